/// Why an op cannot take the shapes it was given.
public struct ShapeError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension Op {
    /// Output shapes for the given input shapes (an absent optional input is `nil`), after
    /// checking the op's attributes and that every output fits in the memory budget.
    /// Throws `ShapeError`. (Untyped `throws`: typed throws miscompiled in release builds here.)
    public func outputShapes(_ inputs: [Shape?]) throws -> [Shape] {
        try validateAttributes()
        for case let s? in inputs where s.dims.contains(where: { ($0 ?? 0) < 0 || ($0 ?? 0) > Shape.largestDimension }) {
            throw ShapeError("the input shape \(s) has a dimension out of range")
        }
        let outputs = try inferredShapes(inputs)
        for s in outputs {
            do { try Sizes.checkInferred(s) } catch let e as SizeError { throw ShapeError("its output \(s): \(e.message)") }
        }
        return outputs
    }

    /// A product of sizes that may not overflow.
    static func product(_ v: [Int]) throws -> Int {
        do { return try Sizes.elementCount(v) } catch let e as SizeError { throw ShapeError(e.message) }
    }

    private func inferredShapes(_ inputs: [Shape?]) throws -> [Shape] {
        guard let x = inputs.first ?? nil else { throw ShapeError("the first input is missing") }

        switch self {
        case .dense(let units):
            return try Self.denseShapes(x, inputs, units: units)

        case .convolution(let c):
            return try Self.convolutionShapes(x, inputs, c)

        case .depthwiseConvolution(let c):
            return try Self.depthwiseShapes(x, inputs, c)

        case .pooling(let p):
            return try Self.poolingShapes(x, inputs, p)

        case .globalPooling(_, let layout, let keepDims):
            return try Self.globalPoolingShapes(x, layout: layout, keepDims: keepDims)

        case .batchNormalization(let axis, _, _):
            return try Self.batchNormalizationShapes(x, inputs, axis: axis)

        case .family(let f):
            return try f.base.inferredShapes(inputs)

        case .activation(let a):
            switch a {
            case .softmax(let axis), .logSoftmax(let axis):
                guard x.axis(axis) != nil else { throw ShapeError("softmax axis \(axis) is out of range for \(x)") }
            default: break
            }
            return [x]

        case .dropout, .augmentation, .rescaling, .unary, .identity:
            return [x]

        case .imageResize(let r):
            return try Self.imageResizeShapes(x, r)

        case .flatten:
            return [Shape([x[0], x.sampleElementCount])]

        case .reshape(let target):
            return try Self.reshapeShapes(x, inputs, target)

        case .reshapeAll(let target):
            return try Self.reshapeAllShapes(x, inputs, target)

        case .transpose(let perm):
            guard perm.count == x.rank, Set(perm) == Set(0..<x.rank) else { throw ShapeError("permutation \(perm) does not fit \(x)") }
            return [Shape(perm.map { x[$0] })]

        case .zeroPadding(let pads, let layout):
            return try Self.paddingShapes(x, inputs, pads, layout: layout, cropping: false)

        case .cropping(let pads, let layout):
            return try Self.paddingShapes(x, inputs, pads, layout: layout, cropping: true)

        case let .slice(starts, ends, axes):
            return try Self.sliceShapes(x, inputs, starts: starts, ends: ends, axes: axes)

        case .upSampling(let size, _, let layout):
            let axes = layout.spatialAxes(rank: x.rank)
            guard size.count == axes.count else { throw ShapeError("up-sampling size \(size) does not fit \(x)") }
            var out = x
            for (i, axis) in axes.enumerated() { out[axis] = x[axis].map { $0 * size[i] } }
            return [out]

        case .elementwise:
            var result = x
            for case let s? in inputs.dropFirst() { result = try broadcast(result, s) }
            return [result]

        case .reduce(_, let axes, let keepDims):
            return try Self.reduceShapes(x, inputs, axes: axes, keepDims: keepDims)

        case let .argReduce(_, axis, keepDims, _):
            return try Op.reduce(.max, axes: [axis], keepDims: keepDims).outputShapes(inputs)

        case .maxPoolIndices(let p, _):
            return try Op.pooling(p).outputShapes(inputs)

        case let .stridedSlice(starts, ends, steps, axes):
            var out = x
            for (k, a) in axes.enumerated() {
                guard let axis = x.axis(a), steps[k] != 0 else { throw ShapeError("cannot slice axis \(a) of \(x) with step \(steps[k])") }
                out[axis] = x[axis].map { stridedRange(start: starts[k], end: ends[k], step: steps[k], length: $0).count }
            }
            return [out]

        case .expand(let shape):
            let batch = argument(inputs, 1)?.dims.first ?? nil
            return [try broadcast(x, Shape(shape.map { v in v < 0 ? batch.map { $0 * -v } : v }))]

        case let .batchShape(offsets, factors):
            guard offsets.count == factors.count else { throw ShapeError("a shape vector needs a factor per entry") }
            return [Shape([offsets.count])]

        case .tile(let repeats):
            guard repeats.count == x.rank else { throw ShapeError("Tile repeats \(repeats) do not fit \(x)") }
            return [Shape(try zip(x.dims, repeats).map { d, r in try d.map { try Self.product([$0, r]) } })]

        case let .pad(pads, _, _):
            return try Self.padShapes(x, inputs, pads)

        case .resize(let r):
            guard r.scales.count == x.rank, r.sizes.count == x.rank else { throw ShapeError("Resize scales \(r.scales) do not fit \(x)") }
            for axis in 0..<x.rank where x[axis] != nil && r.outputLength(axis: axis, input: x[axis]) == nil {
                throw ShapeError("Resize scale \(r.scales[axis]) makes axis \(axis) of \(x) larger than any tensor can be")
            }
            return [Shape((0..<x.rank).map { r.outputLength(axis: $0, input: x[$0]) })]

        case .matMul:
            return try Self.matMulShapes(x, inputs)

        case .concatenate(let axis):
            return try Self.concatenateShapes(x, inputs, axis: axis)

        }
    }
}

/// Input `i` of an op's input shapes, or nil when absent.
private func argument(_ inputs: [Shape?], _ i: Int) -> Shape? { i < inputs.count ? inputs[i] : nil }

/// Two sizes that may be the same (either unknown, or equal).
private func sameSize(_ a: Int?, _ b: Int?) -> Bool { a == nil || b == nil || a == b }

extension Op {
    private static func globalPoolingShapes(_ x: Shape, layout: Layout, keepDims: Bool) throws -> [Shape] {
        guard x.rank >= 3 else { throw ShapeError("global pooling needs a rank >= 3 input, got \(x)") }
        let ca = layout.channelAxis(rank: x.rank)
        if keepDims {
            var out = x
            for axis in layout.spatialAxes(rank: x.rank) { out[axis] = 1 }
            return [out]
        }
        return [Shape([x[0], x[ca]])]
    }

    private static func imageResizeShapes(_ x: Shape, _ r: ImageResize) throws -> [Shape] {
        guard x.rank == 4 else { throw ShapeError("Resizing needs an image batch (rank 4), got \(x)") }
        guard r.height > 0, r.width > 0 else { throw ShapeError("Resizing to \(r.height)x\(r.width) is empty") }
        var out = x
        let axes = r.layout.spatialAxes(rank: 4)
        out[axes[0]] = r.height
        out[axes[1]] = r.width
        return [out]
    }

    private static func denseShapes(_ x: Shape, _ inputs: [Shape?], units: Int) throws -> [Shape] {
        guard x.rank >= 2, let features = x.dims.last else { throw ShapeError("Dense needs an input of rank >= 2, got \(x)") }
        if let k = argument(inputs, 1) {
            guard k.rank == 2, sameSize(k[0], features), k[1] == units else {
                throw ShapeError("Dense kernel \(k) does not fit input \(x) and \(units) units")
            }
        }
        if let b = argument(inputs, 2), b.dims != [units] { throw ShapeError("Dense bias \(b) does not fit \(units) units") }
        return [Shape(x.dims.dropLast() + [units])]
    }

    private static func batchNormalizationShapes(_ x: Shape, _ inputs: [Shape?], axis: Int) throws -> [Shape] {
        guard let a = x.axis(axis) else { throw ShapeError("axis \(axis) is out of range for \(x)") }
        for i in 1..<inputs.count {
            if let p = inputs[i], !(p.rank == 1 && sameSize(p[0], x[a])) {
                throw ShapeError("BatchNormalization parameter \(p) does not fit \(x[a].map(String.init) ?? "?") features")
            }
        }
        return [x]
    }

    private static func paddingShapes(_ x: Shape, _ inputs: [Shape?], _ pads: [[Int]], layout: Layout, cropping: Bool) throws -> [Shape] {
        let axes = layout.spatialAxes(rank: x.rank)
        guard pads.count == axes.count, pads.allSatisfy({ $0.count == 2 }) else { throw ShapeError("padding \(pads) does not fit \(x)") }
        var out = x
        let sign = cropping ? -1 : 1
        for (i, axis) in axes.enumerated() {
            out[axis] = x[axis].map { $0 + sign * (pads[i][0] + pads[i][1]) }
            if let d = out[axis], d <= 0 { throw ShapeError("cropping \(pads) leaves nothing of \(x)") }
        }
        return [out]
    }

    private static func sliceShapes(_ x: Shape, _ inputs: [Shape?], starts: [Int], ends: [Int], axes: [Int]) throws -> [Shape] {
        var out = x
        for (k, a) in axes.enumerated() {
            guard let axis = x.axis(a), axis > 0, let dim = x[axis] else { throw ShapeError("cannot slice axis \(a) of \(x)") }
            guard starts[k] >= 0, ends[k] <= dim, starts[k] < ends[k] else { throw ShapeError("slice \(starts[k])..<\(ends[k]) is outside axis \(a) of \(x)") }
            out[axis] = ends[k] - starts[k]
        }
        return [out]
    }

    private static func reduceShapes(_ x: Shape, _ inputs: [Shape?], axes: [Int], keepDims: Bool) throws -> [Shape] {
        let normal = try axes.map { a throws -> Int in
            guard let n = x.axis(a) else { throw ShapeError("axis \(a) is out of range for \(x)") }
            return n
        }
        let reduced = axes.isEmpty ? Set(0..<x.rank) : Set(normal)
        if keepDims { return [Shape(x.dims.enumerated().map { reduced.contains($0.offset) ? 1 : $0.element })] }
        return [Shape(x.dims.enumerated().filter { !reduced.contains($0.offset) }.map(\.element))]
    }

    private static func padShapes(_ x: Shape, _ inputs: [Shape?], _ pads: [Int]) throws -> [Shape] {
        guard pads.count == 2 * x.rank else { throw ShapeError("pads \(pads) do not fit \(x)") }
        var out = x
        for a in 0..<x.rank {
            out[a] = x[a].map { $0 + pads[a] + pads[x.rank + a] }
            if let d = out[a], d < 0 { throw ShapeError("pads \(pads) crop more than \(x) holds") }
        }
        return [out]
    }
    private static func convolutionShapes(_ x: Shape, _ inputs: [Shape?], _ c: Convolution) throws -> [Shape] {
        let sr = c.spatialRank
        guard x.rank == sr + 2 else { throw ShapeError("Conv\(sr)D needs a rank-\(sr + 2) input, got \(x)") }
        let ca = c.layout.channelAxis(rank: x.rank)
        if let k = argument(inputs, 1) {
            let (spatial, inAxis, outAxis) = c.kernelLayout == .spatialInOut ? (Array(0..<sr), sr, sr + 1) : (Array(2..<(sr + 2)), 1, 0)
            guard k.rank == sr + 2, spatial.map({ k[$0] }) == c.kernelSize.map({ Optional($0) }), k[outAxis] == c.filters,
                  sameSize(k[inAxis].map { $0 * c.groups }, x[ca]) else {
                throw ShapeError("convolution kernel \(k) does not fit input \(x) (\(c.filters) filters, kernel \(c.kernelSize), groups \(c.groups))")
            }
        }
        if let b = argument(inputs, 2), b.dims != [c.filters] { throw ShapeError("convolution bias \(b) does not fit \(c.filters) filters") }
        var out = x
        for (i, axis) in c.layout.spatialAxes(rank: x.rank).enumerated() {
            out[axis] = c.padding.outputLength(axis: i, spatialRank: sr, input: x[axis], window: c.kernelSize[i], stride: c.strides[i],
                                               dilation: c.dilations[i])
        }
        out[ca] = c.filters
        return [out]
    }

    private static func depthwiseShapes(_ x: Shape, _ inputs: [Shape?], _ c: DepthwiseConvolution) throws -> [Shape] {
        let sr = c.kernelSize.count
        guard x.rank == sr + 2 else { throw ShapeError("DepthwiseConv\(sr)D needs a rank-\(sr + 2) input, got \(x)") }
        let ca = c.layout.channelAxis(rank: x.rank)
        if let k = argument(inputs, 1) {
            guard k.rank == sr + 2, Array(k.dims.prefix(sr)) == c.kernelSize.map({ Optional($0) }), sameSize(k[sr], x[ca]),
                  k[sr + 1] == c.depthMultiplier else {
                throw ShapeError("depthwise kernel \(k) does not fit input \(x)")
            }
        }
        var out = x
        for (i, axis) in c.layout.spatialAxes(rank: x.rank).enumerated() {
            out[axis] = c.padding.outputLength(axis: i, spatialRank: sr, input: x[axis], window: c.kernelSize[i], stride: c.strides[i],
                                               dilation: c.dilations[i])
        }
        out[ca] = x[ca].map { $0 * c.depthMultiplier }
        if let b = argument(inputs, 2), let channels = out[ca], b.dims != [channels] {
            throw ShapeError("depthwise bias \(b) does not fit \(channels) channels")
        }
        return [out]
    }

    private static func poolingShapes(_ x: Shape, _ inputs: [Shape?], _ p: Pooling) throws -> [Shape] {
        let sr = p.poolSize.count
        guard x.rank == sr + 2 else { throw ShapeError("pooling over \(sr) axes needs a rank-\(sr + 2) input, got \(x)") }
        var out = x
        for (i, axis) in p.layout.spatialAxes(rank: x.rank).enumerated() {
            out[axis] = p.padding.outputLength(axis: i, spatialRank: sr, input: x[axis], window: p.poolSize[i], stride: p.strides[i],
                                               dilation: p.dilation(i))
            if p.ceilMode, case .explicit(let pads) = p.padding, let input = x[axis] {
                // ONNX: ceil((in + pads − k) / s) + 1, dropping a window that would start in the end padding.
                let padded = input + pads[i] + pads[sr + i]
                let window = (p.poolSize[i] - 1) * p.dilation(i) + 1
                var n = (padded - window + p.strides[i] - 1) / p.strides[i] + 1
                if (n - 1) * p.strides[i] >= input + pads[i] { n -= 1 }
                out[axis] = n
            }
            if out[axis] == 0 { throw ShapeError("pool size \(p.poolSize) is larger than the input \(x)") }
        }
        return [out]
    }

    private static func reshapeShapes(_ x: Shape, _ inputs: [Shape?], _ target: [Int]) throws -> [Shape] {
        let known = try Self.product(target.filter { $0 != -1 })
        guard target.filter({ $0 == -1 }).count <= 1, known > 0 || target.contains(0) else { throw ShapeError("invalid target shape \(target)") }
        var out: [Int?] = target.map { $0 == -1 ? nil : $0 }
        if let n = x.sampleElementCount {
            if let wild = target.firstIndex(of: -1) {
                // A zero beside the -1 leaves its size undefined (and a remainder by zero would trap).
                guard known > 0, n % known == 0 else { throw ShapeError("cannot reshape \(x) to \(target)") }
                out[wild] = n / known
            } else if n != known {
                throw ShapeError("cannot reshape \(x) (\(n) values per sample) to \(target) (\(known))")
            }
        }
        return [Shape([x[0]] + out)]
    }

    private static func reshapeAllShapes(_ x: Shape, _ inputs: [Shape?], _ target: [Int]) throws -> [Shape] {
        guard target.filter({ $0 == -1 }).count <= 1, target.allSatisfy({ $0 >= -1 }) else { throw ShapeError("invalid target shape \(target)") }
        var out: [Int?] = target.map { $0 == -1 ? nil : $0 }
        let known = try Self.product(target.filter { $0 != -1 })
        if let n = x.elementCount {
            if let wild = target.firstIndex(of: -1) {
                guard known > 0, n % known == 0 else { throw ShapeError("cannot reshape \(x) to \(target)") }
                out[wild] = n / known
            } else if n != known {
                throw ShapeError("cannot reshape \(x) to \(target)")
            }
        }
        return [Shape(out)]
    }

    private static func matMulShapes(_ x: Shape, _ inputs: [Shape?]) throws -> [Shape] {
        guard let b = argument(inputs, 1), x.rank >= 1, b.rank >= 1 else { throw ShapeError("MatMul needs two inputs of rank >= 1") }
        let a2 = x.rank == 1 ? Shape([1] + x.dims) : x
        let b2 = b.rank == 1 ? Shape(b.dims + [1]) : b
        guard sameSize(a2[a2.rank - 1], b2[b2.rank - 2]) else { throw ShapeError("MatMul operands \(x) and \(b) do not fit") }
        let batch = try broadcast(Shape(Array(a2.dims.dropLast(2))), Shape(Array(b2.dims.dropLast(2))))
        var dims = batch.dims
        if x.rank > 1 { dims.append(a2[a2.rank - 2]) }
        if b.rank > 1 { dims.append(b2[b2.rank - 1]) }
        return [Shape(dims)]
    }

    private static func concatenateShapes(_ x: Shape, _ inputs: [Shape?], axis: Int) throws -> [Shape] {
        guard let a = x.axis(axis) else { throw ShapeError("axis \(axis) is out of range for \(x)") }
        var out = x
        for case let s? in inputs.dropFirst() {
            guard s.rank == x.rank else { throw ShapeError("Concatenate inputs \(x) and \(s) differ in rank") }
            for i in 0..<x.rank where i != a && !sameSize(s[i], out[i]) {
                throw ShapeError("Concatenate inputs \(x) and \(s) differ outside axis \(axis)")
            }
            out[a] = out[a].flatMap { o in s[a].map { o + $0 } }
        }
        return [out]
    }
}

/// The indices ONNX Slice takes from an axis of `length` elements: `start`, `start + step`, …
/// before `end`, with negative bounds counted from the end and clamped as ONNX clamps them.
public func stridedRange(start: Int, end: Int, step: Int, length: Int) -> [Int] {
    // Counted from the end when negative; a start or end far outside the axis (ONNX's INT64_MIN
    // and INT64_MAX) is first brought near it, so nothing overflows.
    func norm(_ v: Int) -> Int { v < 0 ? max(v, -length - 1) + length : min(v, length + 1) }
    if step > 0 {
        let s = min(max(norm(start), 0), length), e = min(max(norm(end), 0), length)
        return Array(stride(from: s, to: max(s, e), by: step))
    }
    let s = min(max(norm(start), -1), length - 1), e = min(max(norm(end), -1), length - 1)
    return Array(stride(from: s, to: min(s, e), by: step))
}

/// numpy broadcasting of two shapes.
public func broadcast(_ a: Shape, _ b: Shape) throws -> Shape {
    let rank = max(a.rank, b.rank)
    let pa = [Int?](repeating: 1, count: rank - a.rank) + a.dims
    let pb = [Int?](repeating: 1, count: rank - b.rank) + b.dims
    var out: [Int?] = []
    for (x, y) in zip(pa, pb) {
        switch (x, y) {
        case (1?, _): out.append(y)
        case (_, 1?): out.append(x)
        case let (x?, y?) where x == y: out.append(x)
        case (nil, _), (_, nil): out.append(x ?? y)
        default: throw ShapeError("shapes \(a) and \(b) cannot be broadcast together")
        }
    }
    return Shape(out)
}
