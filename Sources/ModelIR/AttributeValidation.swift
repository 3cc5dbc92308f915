extension Shape {
    /// No dimension a real model has comes near this; larger ones are refused before any
    /// arithmetic on them can overflow.
    public static let largestDimension = 1 << 40
    /// The largest kernel, pool window, stride or dilation accepted: real models stay far below.
    public static let largestWindow = 1 << 16
}

/// The checks every op's attributes use: windows and strides of at least 1, one entry per axis.
enum AttributeCheck {
    static func positive(_ name: String, _ v: [Int], count: Int? = nil, limit: Int = Shape.largestWindow) throws {
        if let count, v.count != count { throw ShapeError("\(name) \(v) should have \(count) entries") }
        guard v.allSatisfy({ $0 >= 1 }) else { throw ShapeError("\(name) \(v) must be at least 1") }
        guard v.allSatisfy({ $0 <= limit }) else { throw ShapeError("\(name) \(v) is too large (at most \(limit))") }
    }

    static func nonNegative(_ name: String, _ v: [Int], count: Int? = nil) throws {
        if let count, v.count != count { throw ShapeError("\(name) \(v) should have \(count) entries") }
        guard v.allSatisfy({ $0 >= 0 && $0 <= Shape.largestDimension }) else { throw ShapeError("\(name) \(v) must not be negative") }
    }

    /// Explicit pads: a begin and an end for each spatial axis.
    static func pads(_ p: Padding, spatialRank: Int) throws {
        if case .explicit(let v) = p { try nonNegative("pads", v, count: 2 * spatialRank) }
    }
}

extension Op {
    /// Checks the attributes a file gave: windows, strides and dilations of at least 1, one
    /// entry per spatial axis, pads and crops not negative, a positive unit count. A hostile
    /// or damaged file then gets an error naming its layer, never a division by zero.
    public func validateAttributes() throws {
        switch self {
        case .dense(let units): try AttributeCheck.positive("units", [units], limit: Shape.largestDimension)
        case .convolution(let c):
            try AttributeCheck.positive("kernel size", c.kernelSize)
            try AttributeCheck.positive("strides", c.strides, count: c.spatialRank)
            try AttributeCheck.positive("dilations", c.dilations, count: c.spatialRank)
            try AttributeCheck.positive("filters", [c.filters], limit: Shape.largestDimension)
            try AttributeCheck.positive("groups", [c.groups], limit: Shape.largestDimension)
            guard c.filters % c.groups == 0 else { throw ShapeError("groups \(c.groups) does not divide the \(c.filters) filters") }
            try AttributeCheck.pads(c.padding, spatialRank: c.spatialRank)
        case .depthwiseConvolution(let c):
            try AttributeCheck.positive("kernel size", c.kernelSize)
            try AttributeCheck.positive("strides", c.strides, count: c.kernelSize.count)
            try AttributeCheck.positive("dilations", c.dilations, count: c.kernelSize.count)
            try AttributeCheck.positive("depth multiplier", [c.depthMultiplier], limit: Shape.largestDimension)
            try AttributeCheck.pads(c.padding, spatialRank: c.kernelSize.count)
        case .pooling(let p), .maxPoolIndices(let p, _):
            try AttributeCheck.positive("pool size", p.poolSize)
            try AttributeCheck.positive("strides", p.strides, count: p.poolSize.count)
            try AttributeCheck.positive("dilations", p.dilations ?? [], count: p.dilations == nil ? nil : p.poolSize.count)
            try AttributeCheck.pads(p.padding, spatialRank: p.poolSize.count)
        case .zeroPadding(let p, _), .cropping(let p, _): try AttributeCheck.nonNegative("padding", p.flatMap { $0 })
        case .upSampling(let size, _, _): try AttributeCheck.positive("size", size)
        case .stridedSlice(_, _, let steps, _):
            guard !steps.contains(0) else { throw ShapeError("slice steps \(steps) must not be 0") }
        case .tile(let repeats): try AttributeCheck.nonNegative("repeats", repeats)
        case .pad(let p, _, _):
            guard p.allSatisfy({ abs($0) <= Shape.largestDimension }) else { throw ShapeError("pads \(p) are too large") }
        case .imageResize(let r): try AttributeCheck.positive("size", [r.height, r.width], limit: Shape.largestDimension)
        case .resize(let r):
            guard r.scales.allSatisfy({ $0.isFinite && $0 > 0 }) else { throw ShapeError("scales \(r.scales) must be positive") }
            try AttributeCheck.nonNegative("sizes", r.sizes.compactMap { $0 })
        case .reshape(let target), .reshapeAll(let target):
            guard target.filter({ $0 == -1 }).count <= 1, target.allSatisfy({ $0 >= -1 && $0 <= Shape.largestDimension }) else {
                throw ShapeError("invalid target shape \(target)")
            }
        case .globalPooling, .batchNormalization, .activation, .dropout, .augmentation, .flatten,
             .transpose, .slice, .rescaling, .elementwise, .unary, .reduce, .concatenate, .identity, .expand,
             .batchShape, .matMul, .argReduce:
            break
        case .family(let f): try f.base.validateAttributes()
        }
    }
}
