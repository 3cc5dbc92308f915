import Engine

/// Labelled samples, delivered a batch at a time so memory does not grow with the data set.
public protocol SampleSource {
    var count: Int { get }
    /// Calls `body` with each batch: model inputs keyed by input name, and 0/1 labels.
    func forEachBatch(size: Int, _ body: ([String: HostTensor], [Float]) throws -> Void) throws
}

/// Samples already in memory (`--inputs X.npy --labels y.npy`).
public struct ArraySource: SampleSource {
    public var inputs: [String: HostTensor]
    public var labels: [Float]
    public init(inputs: [String: HostTensor], labels: [Float]) {
        self.inputs = inputs
        self.labels = labels
    }
    public var count: Int { labels.count }
    public func forEachBatch(size: Int, _ body: ([String: HostTensor], [Float]) throws -> Void) throws {
        var start = 0
        while start < count {
            let end = min(count, start + size)
            try body(inputs.mapValues { $0.slice(start..<end) }, Array(labels[start..<end]))
            start = end
        }
    }
}

/// Samples made on demand (decoded images), `batch(range)` giving inputs and labels.
public struct LazySource: SampleSource {
    public var count: Int
    public var batch: (Range<Int>) throws -> ([String: HostTensor], [Float])
    public init(count: Int, batch: @escaping (Range<Int>) throws -> ([String: HostTensor], [Float])) {
        self.count = count
        self.batch = batch
    }
    public func forEachBatch(size: Int, _ body: ([String: HostTensor], [Float]) throws -> Void) throws {
        var start = 0
        while start < count {
            let end = min(count, start + size)
            let (x, y) = try batch(start..<end)
            try body(x, y)
            start = end
        }
    }
}
