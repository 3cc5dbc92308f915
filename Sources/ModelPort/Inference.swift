import DataIO
import Engine
import Foundation
import ModelIR

extension Model {
    /// Plans the model on the CPU engine.
    public func session(threads: Int? = nil, optimize: Bool = true) throws -> InferenceSession {
        do {
            let options = EngineOptions(threads: threads ?? ProcessInfo.processInfo.activeProcessorCount, optimize: optimize)
            guard !dimensions.isEmpty else { return try InferenceSession(graph: graph, options: options) }
            let model = self
            return try InferenceSession(graph: graph, options: options) { shapes in try model.specialized(for: shapes).graph }
        } catch {
            throw ModelPortError("\(path): \(error)")
        }
    }

    /// Checks input arrays against the model's inputs and converts them to float32.
    /// `source` names the file they came from, for errors.
    public func prepareInputs(_ arrays: [String: Tensor], source: String) throws -> [String: HostTensor] {
        var result: [String: HostTensor] = [:]
        for input in graph.inputs {
            guard let t = arrays[input.name] else {
                let given = arrays.keys.sorted().joined(separator: ", ")
                throw ModelPortError("\(source): no array for the model input '\(input.name)' (the file has: \(given.isEmpty ? "none" : given))")
            }
            guard t.dtype != .bool || input.dtype == .bool else {
                throw ModelPortError("\(source): input '\(input.name)' is bool; the model expects \(input.dtype.rawValue) numbers")
            }
            let expected = openShape(input)
            let fits = t.shape.count == expected.rank && zip(t.shape, expected.dims).allSatisfy { $1 == nil || $0 == $1 }
            guard fits else {
                throw ModelPortError("\(source): input '\(input.name)' has shape \(Shape(t.shape.map { Optional($0) })), the model expects \(expected)")
            }
            if let size = t.shape.max(), size > Self.largestNamedDimension, expected.dims.contains(nil) {
                throw ModelPortError("\(source): input '\(input.name)' has shape \(Shape(t.shape.map { Optional($0) })): "
                                     + "a dimension of \(size) passes the \(Self.largestNamedDimension) ModelPort plans for")
            }
            let batchAxis = expected.rank > 0 && expected[0] == nil
            guard !batchAxis || t.shape.first != 0 else {
                throw ModelPortError("\(source): input '\(input.name)' has no samples (its shape is \(Shape(t.shape.map { Optional($0) })))")
            }
            if let big = t.firstIntegerBeyondFloat32() {
                // The engine computes in float32, whose whole numbers are exact only up to 2^24.
                throw ModelPortError("\(source): input '\(input.name)' holds \(big), beyond the 16,777,216 a float32 keeps exactly")
            }
            result[input.name] = HostTensor(t)
        }
        return result
    }

    /// The largest size an open dimension may take (a sequence length, a batch): beyond it the
    /// plan's buffers would pass any memory a run can have.
    public static let largestNamedDimension = 1 << 20

    /// An input's shape with the dimensions the file names left open (the graph may be made
    /// for one size of them, `specialized(for:)`).
    public func openShape(_ input: ValueInfo) -> Shape {
        guard !dimensions.isEmpty, let names = dimensionNames[input.name] else { return input.shape }
        return Shape(input.shape.dims.enumerated().map { i, d in i < names.count && names[i].map { dimensions[$0] != nil } == true ? nil : d })
    }

    /// Runs the model over inputs of any batch size, `batchSize` samples at a time.
    /// `source` names the file the inputs came from: an input value the model cannot take (a
    /// token id outside its table) is reported against it.
    public func predict(_ inputs: [String: HostTensor], session: InferenceSession, batchSize: Int = 32, source: String? = nil,
                        progress: ((Int, Int) -> Void)? = nil) throws -> [String: HostTensor] {
        func failure(_ error: Error, _ range: Range<Int>? = nil) -> ModelPortError {
            let place = range.map { " (in the batch of samples \($0.lowerBound)..<\($0.upperBound))" } ?? ""
            if case EngineError.invalidValue? = error as? EngineError, let source { return ModelPortError("\(source): \(error)\(place), model \(path)") }
            return ModelPortError("\(path): \(error)\(place)")
        }
        if graph.inputs.isEmpty || graph.inputs.contains(where: { openShape($0).dims.first.map { $0 != nil } ?? true }) {
            // No inputs (every value is stored), or an input whose first axis is fixed: that
            // axis is not a batch of samples, so the inputs run as they are, in one go.
            do { return try session.run(inputs) } catch { throw failure(error) }
        }
        guard let first = graph.inputs.first, let total = inputs[first.name]?.shape.first else { return [:] }
        guard total > 0 else { throw ModelPortError("\(path): the input '\(first.name)' has no samples") }
        if graph.inputs.contains(where: { inputs[$0.name]?.shape.first != total }) {
            // Inputs whose first axes differ are not a batch of samples: run them as they are.
            do { return try session.run(inputs) } catch { throw failure(error) }
        }
        var parts: [String: [HostTensor]] = [:]
        var start = 0
        let step = max(1, batchSize)
        while start < total {
            let end = min(start + step, total)
            let batch = inputs.mapValues { $0.slice(start..<end) }
            let out: [String: HostTensor]
            do { out = try session.run(batch) } catch { throw failure(error, total > end - start ? start..<end : nil) }
            for (k, v) in out { parts[k, default: []].append(v) }
            start = end
            progress?(end, total)
        }
        return parts.mapValues { HostTensor(concatenating: $0) }
    }
}

extension HostTensor {
    /// Joins tensors along the first axis.
    public init(concatenating parts: [HostTensor]) {
        guard var s = parts.first?.shape, !s.isEmpty else {
            self.init(shape: parts.first?.shape ?? [0], data: parts.first?.data ?? [])
            return
        }
        s[0] = parts.reduce(0) { $0 + ($1.shape.first ?? 0) }
        self.init(shape: s, data: parts.flatMap(\.data))
    }

    public var nanCount: Int { data.reduce(0) { $0 + ($1.isNaN ? 1 : 0) } }
}
