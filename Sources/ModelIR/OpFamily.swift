/// What an op is beyond its arithmetic: the facts that passes, the diagnosis, sub-batching and
/// image decoding ask of it (`Op.traits`), instead of each keeping its own list of op cases.
public struct OpTraits: OptionSet, Hashable, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// Passes its input on unchanged at inference (Dropout, the random augmentations, Identity).
    public static let passThroughAtInference = OpTraits(rawValue: 1 << 0)
    /// Changes only the shape of its input (Flatten, Reshape).
    public static let onlyReshapes = OpTraits(rawValue: 1 << 1)
    /// A Dense layer in any of its forms (Keras Dense, ONNX Gemm or MatMul).
    public static let linearLayer = OpTraits(rawValue: 1 << 2)
    /// Multiplies its input by a kernel given as its second input (Dense, MatMul, convolutions).
    public static let multipliesByKernel = OpTraits(rawValue: 1 << 3)
    /// Computes each sample from that sample alone (the batch axis is neither reduced, moved nor
    /// reshaped), so a batch may run in parts.
    public static let keepsSamplesApart = OpTraits(rawValue: 1 << 4)
    /// Reads its input's channel axis where its layout says, and keeps it there in its output
    /// (convolutions, pooling, BatchNormalization): a graph input takes that axis from it.
    public static let readsChannelAxis = OpTraits(rawValue: 1 << 5)
    /// Keeps its input's values as they are, only moving, resampling, cropping or padding them at
    /// inference (Resizing, CenterCrop, ZeroPadding, the augmentations): raw pixels read through it
    /// reach the next op as raw pixels.
    public static let keepsValueScale = OpTraits(rawValue: 1 << 6)
    /// Every output element is a copy of an input element or of a constant (reshapes, slices,
    /// gathers, splits): integers stay as exact as its inputs, so the engine checks them only
    /// where ops compute new ones.
    public static let copiesValues = OpTraits(rawValue: 1 << 7)
}

/// One op family defined in one place: its typed attributes, their validation, its shape rule,
/// its layout rule and its traits. The engine lowers it and each format reads and writes it in
/// one file of its own, found by the family's type (tract's `TypedOp` is the model).
public protocol OpFamily: Hashable, Sendable {
    /// The name a Keras user would recognise, used in printouts.
    var displayName: String { get }
    var traits: OpTraits { get }
    /// Checks the attributes a file gave (a hostile file gets an error naming its layer).
    func validateAttributes() throws
    /// Output shapes for the given input shapes (an absent optional input is `nil`).
    func inferredShapes(_ inputs: [Shape?]) throws -> [Shape]
    /// Element types of the outputs for the element types of the inputs (an absent one is float32).
    func outputTypes(_ inputs: [DType]) -> [DType]
    /// The channel axis of the first output, given the first input's (`carried`), the first
    /// input's rank and the output's.
    func channelAxis(carried: Int?, inputRank: Int?, outputRank: Int) -> Int?
    /// Where the channels of its spatial data sit (convolutions, pooling); nil when it has no such layout.
    var spatialLayout: Layout? { get }
    /// The same op reading and writing channels-last data.
    func channelsLast() -> Self
}

extension OpFamily {
    /// One output, of the data input's type (a gather, a split part of ids stays ids).
    public func outputTypes(_ inputs: [DType]) -> [DType] { [inputs.first ?? .float32] }
    public var spatialLayout: Layout? { nil }
    public func channelsLast() -> Self { self }
}

/// An op family's attributes inside `Op.family`, compared and hashed as its own type.
public struct AnyOpFamily: Hashable, Sendable {
    public let base: any OpFamily
    public init(_ base: some OpFamily) { self.base = base }
    public static func == (a: AnyOpFamily, b: AnyOpFamily) -> Bool { AnyHashable(a.base) == AnyHashable(b.base) }
    public func hash(into hasher: inout Hasher) { hasher.combine(AnyHashable(base)) }

    /// The same op reading and writing channels-last data.
    public func channelsLast() -> AnyOpFamily {
        func open<F: OpFamily>(_ f: F) -> AnyOpFamily { AnyOpFamily(f.channelsLast()) }
        return open(base)
    }
}

extension Op {
    /// Where the channels of the op's spatial data sit, for the ops that have such a layout
    /// (the layout rule `ChannelsLastPass` and the exporters read).
    public var layout: Layout? {
        switch self {
        case .convolution(let c): return c.layout
        case .depthwiseConvolution(let c): return c.layout
        case .pooling(let p): return p.layout
        case .imageResize(let r): return r.layout
        case .globalPooling(_, let l, _), .flatten(let l), .zeroPadding(_, let l), .cropping(_, let l), .upSampling(_, _, let l): return l
        case .family(let f): return f.base.spatialLayout
        case .dense, .batchNormalization, .activation, .dropout, .augmentation, .reshape, .reshapeAll, .transpose, .slice, .rescaling,
             .elementwise, .unary, .reduce, .concatenate, .identity, .stridedSlice, .expand, .batchShape, .tile, .pad, .resize, .matMul,
             .maxPoolIndices, .argReduce:
            return nil
        }
    }

    /// The same op reading and writing channels-last data (itself for ops without a layout).
    public func channelsLast() -> Op {
        switch self {
        case .convolution(var c): c.layout = .channelsLast; return .convolution(c)
        case .depthwiseConvolution(var c): c.layout = .channelsLast; return .depthwiseConvolution(c)
        case .pooling(var p): p.layout = .channelsLast; return .pooling(p)
        case .imageResize(var r): r.layout = .channelsLast; return .imageResize(r)
        case let .globalPooling(k, _, keep): return .globalPooling(kind: k, layout: .channelsLast, keepDims: keep)
        case .flatten: return .flatten(layout: .channelsLast)
        case let .zeroPadding(p, _): return .zeroPadding(pads: p, layout: .channelsLast)
        case let .cropping(c, _): return .cropping(crops: c, layout: .channelsLast)
        case let .upSampling(s, i, _): return .upSampling(size: s, interpolation: i, layout: .channelsLast)
        case .family(let f): return .family(f.channelsLast())
        case .dense, .batchNormalization, .activation, .dropout, .augmentation, .reshape, .reshapeAll, .transpose, .slice, .rescaling,
             .elementwise, .unary, .reduce, .concatenate, .identity, .stridedSlice, .expand, .batchShape, .tile, .pad, .resize, .matMul,
             .maxPoolIndices, .argReduce:
            return self
        }
    }

    /// An op of a family defined in one place (`OpFamily`).
    public init(_ family: some OpFamily) { self = .family(AnyOpFamily(family)) }

    /// The attributes of this op when it is of family `F`.
    public func `as`<F: OpFamily>(_ type: F.Type) -> F? {
        if case .family(let f) = self { return f.base as? F }
        return nil
    }
}
