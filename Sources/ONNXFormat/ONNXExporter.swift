import Foundation
import ModelIR
import SwiftProtobuf

/// Options of an export to ONNX.
public struct ONNXExportOptions: Sendable {
    /// ai.onnx opset, 13–21.
    public var opset = 17
    /// Take NCHW input instead of the Keras signature (NHWC), with no Transpose at all.
    public var nchwInputs = false
    public var producerVersion = "0.1.0"
    /// The source file, recorded as the model's doc string.
    public var source = ""
    public init() {}
}

/// Writes a ModelIR graph as an ONNX model. Keras graphs are channels-last; ONNX's convolution,
/// pooling and normalisation ops read channels first. So the values those ops read and make are
/// stored channels-first (and what elementwise ops and activations make from them), everything
/// else in Keras' order (a sequence read by Dense, MatMul or an embedding), as the IR says
/// (`ONNXWriter.decideLayout`): the input is transposed by its first channels-first reader (or
/// taken NCHW with `nchwInputs`), axis attributes are remapped per value, and a Flatten feeding
/// Dense layers keeps Keras' order by permuting the Dense weights instead of transposing the data.
public enum ONNXExporter {
    public static let supportedOpsets = 13...21

    public static func irVersion(forOpset opset: Int) -> Int64 {
        switch opset {
        case ...14: return 7
        case 15...18: return 8
        case 19...20: return 9
        default: return 10
        }
    }

    public static func export(_ graph: Graph, options: ONNXExportOptions = ONNXExportOptions()) throws -> Data {
        guard supportedOpsets.contains(options.opset) else {
            throw ONNXExportError("opset \(options.opset) is not supported for export (13–21)")
        }
        var w = try ONNXWriter(graph: graph, options: options)
        try w.run()
        var model = Onnx_ModelProto()
        model.irVersion = irVersion(forOpset: options.opset)
        model.producerName = "modelport"
        model.producerVersion = options.producerVersion
        model.docString = options.source
        var opset = Onnx_OperatorSetIdProto()
        opset.domain = ""
        opset.version = Int64(options.opset)
        model.opsetImport = [opset]
        model.graph = w.proto
        return try model.serializedData()
    }
}

public struct ONNXExportError: Error, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}

/// Writes one graph as ONNX; op families add their writers in their own files (`ONNXRegistry.write`).
struct ONNXWriter {
    let graph: Graph
    let options: ONNXExportOptions
    let shapes: [String: Shape]
    /// The graph is channels-last (Keras' default): values its spatial ops read are stored
    /// channels-first in the file (`channelsFirst`).
    let transposed: Bool
    /// Values of rank ≥ 3 stored channels-first in the file, decided from the IR as each node is
    /// written (`decideLayout`): what convolutions, pooling and BatchNormalization make, and what
    /// elementwise ops, activations and the like make from such a value; everything else (a
    /// sequence read by Dense, MatMul, an embedding) stays in Keras' order.
    var channelsFirst = Set<String>()
    var proto = Onnx_GraphProto()
    var initializers: [String: Tensor] = [:]
    var emitted = Set<String>()
    var usedNames = Set<String>()
    let parameters: [String: Parameter]
    /// Flatten outputs that stay in ONNX (channels-first) order; the Dense layers reading them
    /// get their kernel rows permuted to match.
    var physicalFlatten: [String: [Int]] = [:]

    init(graph: Graph, options: ONNXExportOptions) throws {
        self.graph = graph
        self.options = options
        do { shapes = try graph.verify() } catch { throw ONNXExportError("the graph does not verify: \(error)") }
        parameters = Dictionary(graph.parameters.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        // The layouts of the spatial ops (a Flatten's says only how it orders, Resizing keeps any).
        let layouts = graph.nodes.compactMap { n -> Layout? in
            if case .flatten = n.op { return nil }
            if case .imageResize = n.op { return nil }
            return n.op.layout
        }
        if Set(layouts).count > 1 { throw ONNXExportError("the model mixes channels_last and channels_first layers, which export does not support") }
        transposed = layouts.first.map { $0 == .channelsLast } ?? true
    }

    /// Keras `Resizing` as ONNX Resize, for the methods ONNX computes as TensorFlow does
    /// (bilinear and nearest with half-pixel centres, antialiased bilinear and bicubic), after a
    /// Slice for `crop_to_aspect_ratio`.
    mutating func exportImageResize(_ r: ImageResize, _ n: Node, x: String, out: String, layer: String,
                                    fail: (String) -> ONNXExportError) throws {
        guard let inShape = shapes[n.inputs[0]], inShape.rank == 4,
              let h = inShape[r.layout.spatialAxes(rank: 4)[0]], let w = inShape[r.layout.spatialAxes(rank: 4)[1]] else {
            throw fail("Resizing needs a known image size to export")
        }
        var attrs: [Onnx_AttributeProto] = [attr("coordinate_transformation_mode", "half_pixel")]
        switch (r.interpolation, r.antialias) {
        case (.bilinear, false): attrs.append(attr("mode", "linear"))
        case (.nearest, _): attrs += [attr("mode", "nearest"), attr("nearest_mode", "round_prefer_ceil")]
        case (.bilinear, true), (.bicubic, true):
            guard options.opset >= 18 else { throw fail("antialiased resizing needs opset 18 or newer") }
            attrs += [attr("mode", r.interpolation == .bilinear ? "linear" : "cubic"), attr("exclude_outside", 1),
                      attr("antialias", 1)]
            if r.interpolation == .bicubic { attrs.append(attr("cubic_coeff_a", Float(-0.5))) }
        case (.bicubic, false), (.area, _), (.lanczos3, _), (.lanczos5, _), (.gaussian, _), (.mitchellcubic, _):
            throw fail("ONNX Resize has no equivalent of TensorFlow's '\(r.interpolation.rawValue)' resampling")
        }
        var source = x, height = h, width = w
        switch r.aspectRatio {
        case .stretch: break
        case .pad: throw fail("pad_to_aspect_ratio has no ONNX export yet")
        case .crop:
            let cropH = max(min(h, Int(Float(w * r.height) / Float(r.width))), 1)
            let cropW = max(min(w, Int(Float(h * r.width) / Float(r.height))), 1)
            let (top, left) = ((h - cropH) / 2, (w - cropW) / 2)
            let axes = r.layout.spatialAxes(rank: 4).map { physicalAxis($0, rank: 4) }
            let cropped = out + "/crop"
            node("Slice", [x, ints(layer + "/crop_starts", [top, left]), ints(layer + "/crop_ends", [top + cropH, left + cropW]),
                           ints(layer + "/crop_axes", axes)], [cropped], name: n.name + "/crop")
            (source, height, width) = (cropped, cropH, cropW)
        }
        var scales = [Float](repeating: 1, count: 4)
        let axes = r.layout.spatialAxes(rank: 4).map { physicalAxis($0, rank: 4) }
        scales[axes[0]] = Float(r.height) / Float(height)
        scales[axes[1]] = Float(r.width) / Float(width)
        if options.opset >= 18 {
            // Sizes, not float scales: floor(in × float32(out/in)) can come out one short.
            attrs.append(attr("axes", ints: axes))
            node("Resize", [source, "", "", ints(layer + "/sizes", [r.height, r.width])], [out], name: n.name, attrs)
        } else {
            let s = initializer(unique(layer + "/scales"), Tensor(shape: [4], floats: scales))
            node("Resize", [source, "", s], [out], name: n.name, attrs)
        }
    }

    // MARK: Layout

    func rank(_ v: String) -> Int { shapes[v]?.rank ?? 0 }
    /// Whether value `v` is stored channels-first in the file.
    func isImage(_ v: String) -> Bool { channelsFirst.contains(v) }

    /// Whether `n` reads its data channels-first (its spatial layout, or a BatchNormalization's
    /// channel axis): its input is converted when stored otherwise, and its output stored so.
    func readsChannelsFirst(_ n: Node) -> Bool {
        if case .batchNormalization = n.op { return true }
        if case .flatten = n.op { return false }
        return n.op.layout != nil
    }

    /// Whether `n` computes in whatever layout its data input is stored in (its writer maps axes
    /// with `physicalAxis(_:of:)`), so its output keeps that layout.
    func keepsStoredLayout(_ n: Node) -> Bool {
        switch n.op {
        case .activation, .dropout, .augmentation, .identity, .rescaling, .elementwise, .unary, .concatenate, .slice: return true
        case .reduce(_, _, let keepDims): return keepDims
        // A family's writer reads its input where it is stored (it maps axes with `physicalAxis(_:of:)`);
        // one with a spatial layout reads channels first.
        case .family(let f): return f.base.spatialLayout == nil
        case .dense, .convolution, .depthwiseConvolution, .pooling, .globalPooling, .batchNormalization, .imageResize, .flatten,
             .reshape, .reshapeAll, .transpose, .zeroPadding, .cropping, .upSampling, .stridedSlice, .expand, .batchShape, .tile,
             .pad, .resize, .matMul, .maxPoolIndices, .argReduce:
            return false
        }
    }

    /// Records how `n`'s outputs are stored, before it is written.
    mutating func decideLayout(_ n: Node) {
        guard transposed, let first = n.inputs.first else { return }
        for out in n.outputs where rank(out) >= 3 {
            if readsChannelsFirst(n) || keepsStoredLayout(n) && isImage(first) && rank(out) == rank(first) { channelsFirst.insert(out) }
        }
    }

    /// Where logical axis `a` of value `v` sits in the file.
    func physicalAxis(_ a: Int, of v: String) -> Int {
        let r = rank(v)
        return isImage(v) ? physicalAxis(a, rank: r) : (a < 0 ? a + r : a)
    }

    /// Where logical (Keras) axis `a` of a rank-`r` tensor stored channels-first sits in the ONNX tensor.
    func physicalAxis(_ a: Int, rank r: Int) -> Int {
        let axis = a < 0 ? a + r : a
        guard transposed, r >= 3 else { return axis }
        if axis == 0 { return 0 }
        if axis == r - 1 { return 1 }
        return axis + 1
    }

    /// The permutation from logical (NHWC) to physical (NCHW) order.
    func toPhysical(_ r: Int) -> [Int] { [0, r - 1] + Array(1..<(r - 1)) }
    func toLogical(_ r: Int) -> [Int] { [0] + Array(2..<r) + [1] }

    // MARK: Protobuf helpers

    mutating func unique(_ base: String) -> String {
        var name = base
        var i = 1
        while usedNames.contains(name) { name = "\(base)_\(i)"; i += 1 }
        usedNames.insert(name)
        return name
    }

    func attr(_ name: String, _ v: Int) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto(); a.name = name; a.type = .int; a.i = Int64(v); return a
    }
    func attr(_ name: String, _ v: Float) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto(); a.name = name; a.type = .float; a.f = v; return a
    }
    func attr(_ name: String, ints v: [Int]) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto(); a.name = name; a.type = .ints; a.ints = v.map { Int64($0) }; return a
    }
    func attr(_ name: String, _ v: String) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto(); a.name = name; a.type = .string; a.s = Data(v.utf8); return a
    }

    mutating func node(_ op: String, _ inputs: [String], _ outputs: [String], name: String, _ attributes: [Onnx_AttributeProto] = []) {
        var n = Onnx_NodeProto()
        n.opType = op
        n.input = inputs
        n.output = outputs
        n.name = unique(name)
        n.attribute = attributes
        proto.node.append(n)
    }

    /// Adds an initializer (once) and returns its name.
    mutating func initializer(_ name: String, _ t: Tensor) -> String {
        if initializers[name] == nil {
            initializers[name] = t
            var p = Onnx_TensorProto()
            p.name = name
            p.dims = t.shape.map { Int64($0) }
            p.dataType = onnxType(t.dtype)
            p.rawData = Data(t.bytes)
            proto.initializer.append(p)
        }
        return name
    }

    func onnxType(_ d: DType) -> Int32 {
        switch d {
        case .float32: return 1
        case .uint8: return 2
        case .int8: return 3
        case .uint16: return 4
        case .int16: return 5
        case .int32: return 6
        case .int64: return 7
        case .bool: return 9
        case .float16: return 10
        case .float64: return 11
        case .uint32: return 12
        case .uint64: return 13
        }
    }

    mutating func ints(_ name: String, _ v: [Int]) -> String { initializer(unique(name), Tensor(int64: v)) }
    mutating func scalar(_ name: String, _ v: Float) -> String { initializer(unique(name), Tensor(scalar: v)) }

    func valueInfo(_ name: String, _ dims: [Int?], dtype: DType = .float32) -> Onnx_ValueInfoProto {
        var v = Onnx_ValueInfoProto()
        v.name = name
        var t = Onnx_TypeProto.Tensor()
        t.elemType = onnxType(dtype)
        var s = Onnx_TensorShapeProto()
        s.dim = dims.enumerated().map { i, d in
            var dim = Onnx_TensorShapeProto.Dimension()
            if let d { dim.dimValue = Int64(d) } else { dim.dimParam = i == 0 ? "batch" : "unk_\(i)" }
            return dim
        }
        t.shape = s
        var type = Onnx_TypeProto()
        type.tensorType = t
        v.type = type
        return v
    }

    func physicalDims(_ v: String) -> [Int?] {
        let d = shapes[v]?.dims ?? []
        return isImage(v) ? toPhysical(d.count).map { d[$0] } : d
    }

    // MARK: Graph

    mutating func run() throws {
        proto.name = graph.metadata.modelName.isEmpty ? "model" : graph.metadata.modelName
        for input in graph.inputs {
            // Keras' signature; the first op that reads it channels-first transposes it (once).
            // With `nchwInputs`, an input of rank ≥ 3 is taken channels-first as it is stored.
            if transposed, options.nchwInputs, input.shape.rank >= 3 { channelsFirst.insert(input.name) }
            proto.input.append(valueInfo(input.name, physicalDims(input.name), dtype: input.dtype))
        }
        for n in graph.nodes {
            decideLayout(n)
            try emit(n)
        }
        for output in graph.outputs {
            let source = name(output)
            if isImage(output) {
                // Outputs keep Keras' layout.
                let out = output
                node("Transpose", [source], [out + "/nhwc"], name: out + "/to_nhwc", [attr("perm", ints: toLogical(rank(output)))])
                proto.output.append(valueInfo(out + "/nhwc", shapes[output]?.dims ?? []))
            } else {
                if source != output { node("Identity", [source], [output], name: output + "/output") }
                proto.output.append(valueInfo(output, shapes[output]?.dims ?? []))
            }
        }
    }

    /// Values renamed in the ONNX graph (an input after its Transpose, a skipped Dropout).
    var aliases: [String: String] = [:]
    func name(_ v: String) -> String {
        var n = v
        while let a = aliases[n] { n = a }
        return n
    }

    /// A node input: a parameter becomes an initializer (unchanged bytes), a value its ONNX name.
    mutating func input(_ v: String) -> String {
        if let p = parameters[v] { return initializer(v, p.tensor) }
        return name(v)
    }

    func floats(_ v: String) -> [Float]? { parameters[v].map { $0.tensor.floats() } }

    /// A constant operand of an elementwise op, broadcast like the logical tensor and stored
    /// in the physical layout.
    mutating func operand(_ v: String, against other: String, node n: Node) -> String {
        guard let p = parameters[v] else {
            // A computed operand stored in the other layout is converted to this one.
            guard rank(v) == rank(other), rank(v) >= 3, isImage(v) != isImage(other) else { return name(v) }
            return isImage(other) ? physical(v, node: n) : logical(v, name(v), node: n)
        }
        let r = rank(other)
        guard isImage(other), p.tensor.count > 1 else { return initializer(v, p.tensor) }
        var dims = p.tensor.shape
        while dims.count < r { dims.insert(1, at: 0) }
        let (outDims, out) = permute(p.tensor.floats(), dims: dims, perm: toPhysical(r))
        return initializer(unique(v + "/nchw"), Tensor(shape: outDims, floats: out))
    }

    func pads(_ padding: Padding, input: [Int?], kernel: [Int], strides: [Int], dilations: [Int]) throws -> [Onnx_AttributeProto] {
        let sr = kernel.count
        switch padding {
        case .valid: return []
        case .explicit(let p): return [attr("pads", ints: p)]
        case .sameUpper, .sameLower:
            var begins: [Int] = [], ends: [Int] = []
            for i in 0..<sr {
                guard let size = input[i] else { return [attr("auto_pad", padding == .sameUpper ? "SAME_UPPER" : "SAME_LOWER")] }
                let (b, e) = padding.pads(axis: i, spatialRank: sr, input: size, window: kernel[i], stride: strides[i], dilation: dilations[i])
                begins.append(b); ends.append(e)
            }
            return [attr("pads", ints: begins + ends)]
        }
    }

    /// Spatial sizes of a value in logical order.
    func spatial(_ v: String, layout: Layout) -> [Int?] {
        let d = shapes[v]?.dims ?? []
        return layout.spatialAxes(rank: d.count).map { d[$0] }
    }

    mutating func emit(_ n: Node) throws {
        let out = n.outputs[0]
        var x = n.inputs.first.map { name($0) } ?? ""
        if let first = n.inputs.first, readsChannelsFirst(n) { x = physical(first, node: n) }
        let layer = n.layer ?? n.name
        func fail(_ why: String) -> ONNXExportError { exportFailure(n, why) }
        switch n.op {
        case .identity, .dropout, .augmentation:
            aliases[out] = x
        case .imageResize(let r):
            try exportImageResize(r, n, x: x, out: out, layer: layer, fail: fail)
        case .dense(let units):
            try emitDense(n, units: units, x: x, out: out, layer: layer)
        case .convolution(let c):
            try emitConvolution(n, c, x: x, out: out, layer: layer)
        case .depthwiseConvolution(let c):
            try emitDepthwise(n, c, x: x, out: out, layer: layer)
        case .pooling(let p):
            var attrs = [attr("kernel_shape", ints: p.poolSize), attr("strides", ints: p.strides)]
            attrs += try pads(p.padding, input: spatial(n.inputs[0], layout: p.layout), kernel: p.poolSize, strides: p.strides,
                              dilations: Array(repeating: 1, count: p.poolSize.count))
            if p.kind == .average { attrs.append(attr("count_include_pad", p.countIncludePad ? 1 : 0)) }
            if p.ceilMode { attrs.append(attr("ceil_mode", 1)) }
            node(p.kind == .max ? "MaxPool" : "AveragePool", [x], [out], name: n.name, attrs)
        case let .globalPooling(kind, _, keepDims):
            let op = kind == .max ? "GlobalMaxPool" : "GlobalAveragePool"
            if keepDims || !transposed && rank(out) == rank(n.inputs[0]) {
                node(op, [x], [out], name: n.name)
            } else {
                node(op, [x], [out + "/pooled"], name: n.name + "/pool")
                node("Flatten", [out + "/pooled"], [out], name: n.name, [attr("axis", 1)])
            }
        case let .batchNormalization(axis, eps, momentum):
            let r = rank(n.inputs[0])
            guard physicalAxis(axis, rank: r) == 1 || r == 2 && axis % 2 == 1 else { throw fail("normalising axis \(axis) is not the channel axis") }
            let count = shapes[n.inputs[3]]?.dims.first.flatMap { $0 } ?? 0
            func filled(_ i: Int, _ role: String, _ value: Float) -> String {
                n.inputs[i].isEmpty ? initializer(unique(layer + "/" + role), Tensor(shape: [count], floats: Array(repeating: value, count: count)))
                                    : input(n.inputs[i])
            }
            let gamma = filled(1, "gamma", 1), beta = filled(2, "beta", 0)
            node("BatchNormalization", [x, gamma, beta, input(n.inputs[3]), input(n.inputs[4])], [out], name: n.name,
                 [attr("epsilon", eps), attr("momentum", momentum)])
        case .activation(let a):
            try activation(a, x: x, out: out, node: n, rank: rank(n.inputs[0]))
        case .flatten:
            try emitFlatten(n, x: x, out: out, layer: layer)
        case .reshape(let target):
            // Reads and writes Keras' order (its output is never stored channels-first); 0 copies the batch size.
            node("Reshape", [logical(n.inputs[0], x, node: n), ints(layer + "/shape", [0] + target)], [out], name: n.name)
        case .reshapeAll(let target):
            node("Reshape", [logical(n.inputs[0], x, node: n), ints(layer + "/shape", target)], [out], name: n.name)
        case .transpose(let perm):
            let r = rank(n.inputs[0])
            // Compose with the layout permutations so one Transpose does it.
            // Its output is stored in Keras' order: one Transpose from how its input is stored.
            let inPerm = isImage(n.inputs[0]) ? toLogical(r) : Array(0..<r)
            node("Transpose", [x], [out], name: n.name, [attr("perm", ints: perm.map { inPerm[$0] })])
        case let .zeroPadding(p, layout):
            let r = rank(n.inputs[0])
            var begins = [Int](repeating: 0, count: r), ends = begins
            for (i, axis) in layout.spatialAxes(rank: r).enumerated() {
                let pa = physicalAxis(axis, rank: r)
                begins[pa] = p[i][0]; ends[pa] = p[i][1]
            }
            node("Pad", [x, ints(layer + "/pads", begins + ends)], [out], name: n.name, [attr("mode", "constant")])
        case let .cropping(c, layout):
            let r = rank(n.inputs[0])
            var starts: [Int] = [], stops: [Int] = [], axes: [Int] = []
            for (i, axis) in layout.spatialAxes(rank: r).enumerated() {
                guard let size = shapes[n.inputs[0]]?.dims[axis] else { throw fail("needs known spatial sizes") }
                starts.append(c[i][0]); stops.append(size - c[i][1]); axes.append(physicalAxis(axis, rank: r))
            }
            node("Slice", [x, ints(layer + "/starts", starts), ints(layer + "/ends", stops), ints(layer + "/axes", axes)], [out], name: n.name)
        case let .slice(starts, ends, axes):
            let physical = axes.map { physicalAxis($0, of: n.inputs[0]) }
            node("Slice", [x, ints(layer + "/starts", starts), ints(layer + "/ends", ends), ints(layer + "/axes", physical)], [out], name: n.name)
        case let .upSampling(size, interpolation, layout):
            let r = rank(n.inputs[0])
            var scales = [Float](repeating: 1, count: r)
            for (i, axis) in layout.spatialAxes(rank: r).enumerated() { scales[physicalAxis(axis, rank: r)] = Float(size[i]) }
            let attrs = interpolation == "bilinear"
                ? [attr("mode", "linear"), attr("coordinate_transformation_mode", "half_pixel")]
                : [attr("mode", "nearest"), attr("coordinate_transformation_mode", "asymmetric"), attr("nearest_mode", "floor")]
            let s = initializer(unique(layer + "/scales"), Tensor(shape: [r], floats: scales))
            node("Resize", [x, "", s], [out], name: n.name, attrs)
        case let .rescaling(scale, offset):
            let m = out + "/scaled"
            node("Mul", [x, scalar(layer + "/scale", scale)], [offset == 0 ? out : m], name: offset == 0 ? n.name : n.name + "/scale")
            if offset != 0 { node("Add", [m, scalar(layer + "/offset", offset)], [out], name: n.name) }
        case .elementwise(let f):
            try emitElementwise(n, f, x: x, out: out, layer: layer)
        case .unary(let f):
            try emitUnary(n, f, x: x, out: out, layer: layer)
        case let .reduce(f, axes, keepDims):
            try emitReduce(n, f, axes: axes, keepDims: keepDims, x: x, out: out, layer: layer)
        case .concatenate(let axis):
            let operands = n.inputs.map { operand($0, against: out, node: n) }
            node("Concat", operands, [out], name: n.name, [attr("axis", physicalAxis(axis, of: out))])
        case .stridedSlice, .expand, .pad, .resize, .matMul, .maxPoolIndices, .argReduce, .tile, .batchShape:
            // Only ONNX imports make these, and ONNX → ONNX conversion re-encodes the source graph.
            throw fail("the op comes from an ONNX graph and has no Keras-side export")
        case .family(let f):
            guard let write = onnxRegistry.writers[ObjectIdentifier(type(of: f.base))] else { throw fail("no ONNX operator is written for it yet") }
            try write(&self, n, f.base)
        }
    }

    mutating func emitDense(_ n: Node, units: Int, x: String, out: String, layer: String) throws {
        guard var kernel = parameters[n.inputs[1]]?.tensor else { throw exportFailure(n, "the kernel is not a constant") }
        if let order = physicalFlatten[n.inputs[0]] {
            // Rows in the channels-first flatten order.
            let v = kernel.floats()
            var permuted = [Float](repeating: 0, count: v.count)
            for (physicalRow, logicalRow) in order.enumerated() {
                for u in 0..<units { permuted[physicalRow * units + u] = v[logicalRow * units + u] }
            }
            kernel = Tensor(shape: kernel.shape, floats: permuted)
        }
        let k = kernel == parameters[n.inputs[1]]?.tensor ? initializer(n.inputs[1], kernel) : initializer(unique(n.inputs[1] + "/nchw_rows"), kernel)
        let hasBias = n.inputs.count > 2 && !n.inputs[2].isEmpty
        if rank(n.inputs[0]) == 2 {
            node("Gemm", [x, k] + (hasBias ? [input(n.inputs[2])] : []), [out], name: n.name)
        } else if hasBias {
            // Dense reads Keras's last axis: a value stored channels-first is read in Keras' order.
            node("MatMul", [logical(n.inputs[0], x, node: n), k], [out + "/matmul"], name: n.name + "/matmul")
            node("Add", [out + "/matmul", input(n.inputs[2])], [out], name: n.name)
        } else {
            node("MatMul", [logical(n.inputs[0], x, node: n), k], [out], name: n.name)
        }
    }

    mutating func emitConvolution(_ n: Node, _ c: Convolution, x: String, out: String, layer: String) throws {
        guard let kernel = parameters[n.inputs[1]]?.tensor else { throw exportFailure(n, "the kernel is not a constant") }
        let w: String
        if c.kernelLayout == .outInSpatial {
            w = initializer(n.inputs[1], kernel)
        } else {
            // Keras [spatial…, in/g, out] to ONNX [out, in/g, spatial…].
            let taps = c.kernelSize.reduce(1, *), cinG = kernel.shape[c.kernelSize.count], cout = c.filters
            let v = kernel.floats()
            var oihw = [Float](repeating: 0, count: v.count)
            for t in 0..<taps { for i in 0..<cinG { for o in 0..<cout { oihw[(o * cinG + i) * taps + t] = v[(t * cinG + i) * cout + o] } } }
            w = initializer(unique(n.inputs[1] + "/oihw"), Tensor(shape: [cout, cinG] + c.kernelSize, floats: oihw))
        }
        var attrs = [attr("kernel_shape", ints: c.kernelSize), attr("strides", ints: c.strides), attr("dilations", ints: c.dilations), attr("group", c.groups)]
        attrs += try pads(c.padding, input: spatial(n.inputs[0], layout: c.layout), kernel: c.kernelSize, strides: c.strides, dilations: c.dilations)
        let bias = n.inputs.count > 2 && !n.inputs[2].isEmpty ? [input(n.inputs[2])] : []
        node("Conv", [x, w] + bias, [out], name: n.name, attrs)
    }

    mutating func emitDepthwise(_ n: Node, _ c: DepthwiseConvolution, x: String, out: String, layer: String) throws {
        guard let kernel = parameters[n.inputs[1]]?.tensor else { throw exportFailure(n, "the kernel is not a constant") }
        // [spatial…, c, m] is [spatial…, 1, c·m] read as HWIO with groups = c: to [c·m, 1, spatial…].
        let taps = c.kernelSize.reduce(1, *), channels = kernel.shape[c.kernelSize.count], cout = channels * c.depthMultiplier
        let v = kernel.floats()
        var oihw = [Float](repeating: 0, count: v.count)
        for t in 0..<taps { for o in 0..<cout { oihw[o * taps + t] = v[t * cout + o] } }
        let w = initializer(unique(n.inputs[1] + "/oihw"), Tensor(shape: [cout, 1] + c.kernelSize, floats: oihw))
        var attrs = [attr("kernel_shape", ints: c.kernelSize), attr("strides", ints: c.strides), attr("dilations", ints: c.dilations), attr("group", channels)]
        attrs += try pads(c.padding, input: spatial(n.inputs[0], layout: c.layout), kernel: c.kernelSize, strides: c.strides, dilations: c.dilations)
        let bias = n.inputs.count > 2 && !n.inputs[2].isEmpty ? [input(n.inputs[2])] : []
        node("Conv", [x, w] + bias, [out], name: n.name, attrs)
    }

    mutating func emitFlatten(_ n: Node, x: String, out: String, layer: String) throws {
        let r = rank(n.inputs[0])
        if isImage(n.inputs[0]) {
            let consumers = graph.nodes.filter { $0.inputs.first == out }
            if !consumers.isEmpty, consumers.allSatisfy({ if case .dense = $0.op { return true }; return false }), !graph.outputs.contains(out),
               let dims = shapes[n.inputs[0]]?.dims, dims.count >= 2, dims.dropFirst().allSatisfy({ $0 != nil }) {
                node("Flatten", [x], [out], name: n.name, [attr("axis", 1)])
                // Physical (channels-first) row k holds the logical (channels-last) feature order[k].
                let logicalDims = dims.dropFirst().compactMap { $0 }
                let physicalDims = Array(logicalDims.suffix(1)) + logicalDims.dropLast()
                var order: [Int] = []
                let total = logicalDims.reduce(1, *)
                order.reserveCapacity(total)
                var index = [Int](repeating: 0, count: physicalDims.count)
                for _ in 0..<total {
                    // physical index (c, h, w…) → logical (h, w…, c)
                    let logicalIndex = Array(index.dropFirst()) + [index[0]]
                    var flat = 0
                    for (k, d) in logicalIndex.enumerated() { flat = flat * logicalDims[k] + d }
                    order.append(flat)
                    var a = physicalDims.count - 1
                    while a >= 0 { index[a] += 1; if index[a] < physicalDims[a] { break }; index[a] = 0; a -= 1 }
                }
                physicalFlatten[out] = order
            } else {
                node("Transpose", [x], [out + "/nhwc"], name: n.name + "/to_nhwc", [attr("perm", ints: toLogical(r))])
                node("Flatten", [out + "/nhwc"], [out], name: n.name, [attr("axis", 1)])
            }
        } else {
            node("Flatten", [x], [out], name: n.name, [attr("axis", 1)])
        }
    }

    mutating func emitElementwise(_ n: Node, _ f: ElementwiseFunction, x: String, out: String, layer: String) throws {
        let operands = n.inputs.map { operand($0, against: out, node: n) }
        switch f {
        case .add, .subtract, .multiply, .divide, .power:
            let op = f == .add ? "Add" : f == .subtract ? "Sub" : f == .multiply ? "Mul" : f == .divide ? "Div" : "Pow"
            var acc = operands[0]
            for (k, o) in operands.dropFirst().enumerated() {
                let target = k == operands.count - 2 ? out : out + "/\(k)"
                node(op, [acc, o], [target], name: k == operands.count - 2 ? n.name : n.name + "/\(k)")
                acc = target
            }
        case .maximum: node("Max", operands, [out], name: n.name)
        case .minimum: node("Min", operands, [out], name: n.name)
        case .average: node("Mean", operands, [out], name: n.name)
        case .equal, .less, .greater, .lessOrEqual, .greaterOrEqual, .and, .or, .xor, .select, .modulo, .remainder:
            throw exportFailure(n, "the op comes from an ONNX graph and has no Keras-side export")
        }
    }

    mutating func emitUnary(_ n: Node, _ f: UnaryFunction, x: String, out: String, layer: String) throws {
        let map: [UnaryFunction: String] = [.negate: "Neg", .abs: "Abs", .sqrt: "Sqrt", .exp: "Exp", .log: "Log", .reciprocal: "Reciprocal",
                                            .floor: "Floor", .ceil: "Ceil", .round: "Round", .erf: "Erf", .sign: "Sign"]
        if f == .truncate {
            // sign(x) · floor(|x|)
            node("Abs", [x], [out + "/abs"], name: n.name + "/abs")
            node("Floor", [out + "/abs"], [out + "/floor"], name: n.name + "/floor")
            node("Sign", [x], [out + "/sign"], name: n.name + "/sign")
            node("Mul", [out + "/floor", out + "/sign"], [out], name: n.name)
            return
        }
        if let op = map[f] {
            node(op, [x], [out], name: n.name)
        } else if f == .square {
            node("Mul", [x, x], [out], name: n.name)
        } else if f == .rsqrt {
            node("Sqrt", [x], [out + "/sqrt"], name: n.name + "/sqrt")
            node("Reciprocal", [out + "/sqrt"], [out], name: n.name)
        } else {
            throw exportFailure(n, "the op comes from an ONNX graph and has no Keras-side export")
        }
    }

    mutating func emitReduce(_ n: Node, _ f: ReduceFunction, axes: [Int], keepDims: Bool, x: String, out: String, layer: String) throws {
        let r = rank(n.inputs[0])
        let reduced = (axes.isEmpty ? Array(0..<r) : axes).map { $0 < 0 ? $0 + r : $0 }
        // Kept axes stay where they are stored. Dropping axes reduces Keras' order, unless what is
        // left is (batch, channels) in both orders (an image's spatial axes all reduced).
        let inPlace = keepDims || isImage(n.inputs[0]) && Set(reduced) == Set(1..<(r - 1))
        let source = inPlace ? x : logical(n.inputs[0], x, node: n)
        let physical = reduced.map { inPlace ? physicalAxis($0, of: n.inputs[0]) : $0 }
        let op = "Reduce" + f.rawValue.prefix(1).uppercased() + f.rawValue.dropFirst()
        let axesAsInput = op == "ReduceSum" ? options.opset >= 13 : options.opset >= 18
        if axesAsInput {
            node(op, [source, ints(layer + "/axes", physical)], [out], name: n.name, [attr("keepdims", keepDims ? 1 : 0)])
        } else {
            node(op, [source], [out], name: n.name, [attr("axes", ints: physical), attr("keepdims", keepDims ? 1 : 0)])
        }
    }

    /// A value stored channels-first, transposing one stored in Keras' order (once) when needed.
    mutating func physical(_ v: String, node n: Node) -> String {
        guard transposed, !isImage(v), rank(v) >= 3 else { return name(v) }
        let t = v + "/nchw"
        if !emitted.contains(t) {
            node("Transpose", [name(v)], [t], name: n.name + "/to_nchw", [attr("perm", ints: toPhysical(rank(v)))])
            emitted.insert(t)
        }
        return t
    }

    /// A value in logical (channels-last) order, transposing an image tensor back when needed.
    mutating func logical(_ v: String, _ onnxName: String, node n: Node) -> String {
        guard isImage(v) else { return onnxName }
        let t = v + "/nhwc"
        if !emitted.contains(t) {
            node("Transpose", [onnxName], [t], name: n.name + "/to_nhwc", [attr("perm", ints: toLogical(rank(v)))])
            emitted.insert(t)
        }
        return t
    }

    /// A C-ordered array transposed by `perm`.
    func permute(_ values: [Float], dims: [Int], perm: [Int]) -> (dims: [Int], values: [Float]) {
        let r = dims.count
        let outDims = perm.map { dims[$0] }
        var out = [Float](repeating: 0, count: values.count)
        var strides = [Int](repeating: 1, count: r)
        for i in stride(from: r - 2, through: 0, by: -1) { strides[i] = strides[i + 1] * dims[i + 1] }
        var index = [Int](repeating: 0, count: r)
        for o in 0..<values.count {
            var src = 0
            for k in 0..<r { src += index[k] * strides[perm[k]] }
            out[o] = values[src]
            var a = r - 1
            while a >= 0 { index[a] += 1; if index[a] < outDims[a] { break }; index[a] = 0; a -= 1 }
        }
        return (outDims, out)
    }

    mutating func activation(_ a: Activation, x: String, out: String, node n: Node, rank r: Int) throws {
        func single(_ op: String, _ attrs: [Onnx_AttributeProto] = []) { node(op, [x], [out], name: n.name, attrs) }
        switch a {
        case .linear: node("Identity", [x], [out], name: n.name)
        case let .relu(maxValue, slope, threshold):
            if slope == 0, threshold == 0 {
                if let m = maxValue {
                    node("Clip", [x, scalar(n.name + "/min", 0), scalar(n.name + "/max", m)], [out], name: n.name)
                } else {
                    single("Relu")
                }
            } else if maxValue == nil, threshold == 0 {
                single("LeakyRelu", [attr("alpha", slope)])
            } else {
                // Keras: max_value above, x on [threshold, max), slope·(x − threshold) below.
                let t = scalar(n.name + "/threshold", threshold)
                node("Sub", [x, t], [out + "/shifted"], name: n.name + "/shift")
                node("Mul", [out + "/shifted", scalar(n.name + "/slope", slope)], [out + "/below"], name: n.name + "/slope")
                node("GreaterOrEqual", [x, t], [out + "/above"], name: n.name + "/compare")
                let selected = maxValue == nil ? out : out + "/uncapped"
                node("Where", [out + "/above", x, out + "/below"], [selected], name: maxValue == nil ? n.name : n.name + "/where")
                if let m = maxValue { node("Min", [selected, scalar(n.name + "/max", m)], [out], name: n.name) }
            }
        case .leakyRelu(let alpha): single("LeakyRelu", [attr("alpha", alpha)])
        case .elu(let alpha): single("Elu", [attr("alpha", alpha)])
        case .selu: single("Selu")
        case .sigmoid: single("Sigmoid")
        case let .hardSigmoid(slope, offset): single("HardSigmoid", [attr("alpha", slope), attr("beta", offset)])
        case .hardSwish:
            if options.opset >= 14 { single("HardSwish") } else {
                node("HardSigmoid", [x], [out + "/gate"], name: n.name + "/gate", [attr("alpha", Float(1.0 / 6.0)), attr("beta", Float(0.5))])
                node("Mul", [x, out + "/gate"], [out], name: n.name)
            }
        case .tanh: single("Tanh")
        case .softplus: single("Softplus")
        case .softsign: single("Softsign")
        case .swish:
            node("Sigmoid", [x], [out + "/gate"], name: n.name + "/gate")
            node("Mul", [x, out + "/gate"], [out], name: n.name)
        case .gelu(let approximate):
            if options.opset >= 20 { single("Gelu", [attr("approximate", approximate ? "tanh" : "none")]) } else if !approximate {
                node("Div", [x, scalar(n.name + "/sqrt2", Float(2.0.squareRoot()))], [out + "/scaled"], name: n.name + "/scale")
                node("Erf", [out + "/scaled"], [out + "/erf"], name: n.name + "/erf")
                node("Add", [out + "/erf", scalar(n.name + "/one", 1)], [out + "/plus"], name: n.name + "/plus")
                node("Mul", [x, out + "/plus"], [out + "/product"], name: n.name + "/product")
                node("Mul", [out + "/product", scalar(n.name + "/half", 0.5)], [out], name: n.name)
            } else {
                throw ONNXExportError("layer '\(n.layer ?? n.name)': approximate gelu needs opset 20")
            }
        case .exponential: single("Exp")
        case .softmax(let axis): single("Softmax", [attr("axis", physicalAxis(axis, of: n.inputs[0]))])
        case .logSoftmax(let axis): single("LogSoftmax", [attr("axis", physicalAxis(axis, of: n.inputs[0]))])
        case let .clip(lower, upper):
            node("Clip", [x, scalar(n.name + "/min", lower), scalar(n.name + "/max", upper)], [out], name: n.name)
        }
    }
}

/// ONNX to ONNX: parse and serialise again; SwiftProtobuf keeps unknown fields.
public enum ONNXPassThrough {
    public static func reencode(_ data: Data) throws -> Data {
        try Onnx_ModelProto(serializedBytes: data).serializedData()
    }

    /// Re-encodes the ONNX file `data` (read from `file`) with the float initializers the graph
    /// changed (recalibrated BatchNormalization statistics) replaced by their new values; a
    /// statistic that was given a tensor of its own (the exporter had shared one initializer
    /// between two inputs) is added and the BatchNormalization node pointed at it. Everything
    /// else stays as it was.
    public static func reencode(_ data: Data, file: String, updating graph: Graph) throws -> Data {
        var model = try Onnx_ModelProto(serializedBytes: data)
        let reader = ONNXTensorReader(file: file, folder: URL(fileURLWithPath: file).deletingLastPathComponent())
        let parameters = Dictionary(graph.parameters.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        func encoded(_ name: String, _ t: Tensor) -> Onnx_TensorProto {
            var p = Onnx_TensorProto()
            p.name = name
            p.dims = t.shape.map { Int64($0) }
            p.dataType = 1
            p.rawData = Data(t.bytes)
            return p
        }
        for (i, initializer) in model.graph.initializer.enumerated() {
            guard let p = parameters[initializer.name], p.tensor.dtype == .float32, initializer.dataType == 1 else { continue }
            let original = try reader.tensor(initializer, name: initializer.name)
            if original.bytes != p.tensor.bytes { model.graph.initializer[i] = encoded(initializer.name, p.tensor) }
        }
        let stored = Set(model.graph.initializer.map(\.name))
        for node in graph.nodes {
            guard case .batchNormalization = node.op, let layer = node.layer,
                  let k = model.graph.node.firstIndex(where: { $0.name == layer && $0.opType == "BatchNormalization" }) else { continue }
            for slot in 3...4 where slot < node.inputs.count && !stored.contains(node.inputs[slot]) {
                guard let p = parameters[node.inputs[slot]], slot < model.graph.node[k].input.count else { continue }
                model.graph.initializer.append(encoded(p.name, p.tensor))
                model.graph.node[k].input[slot] = p.name
            }
        }
        return try model.serializedData()
    }
}

/// Why node `n` cannot be written as ONNX.
func exportFailure(_ n: Node, _ why: String) -> ONNXExportError {
    ONNXExportError("layer '\(n.layer ?? n.name)' (\(n.op.displayName)) cannot be exported: \(why)")
}
