import Dispatch
import Foundation
import ModelIR

/// Options for planning a model on the CPU engine.
public struct EngineOptions: Sendable {
    /// Threads for OpenBLAS and the engine's own loops.
    public var threads: Int
    /// Fold BatchNormalization into the preceding convolution/Dense and fuse activations.
    /// Off for per-layer validation, which needs every layer's own output.
    public var optimize: Bool

    public init(threads: Int = ProcessInfo.processInfo.activeProcessorCount, optimize: Bool = true) {
        self.threads = max(1, threads)
        self.optimize = optimize
    }
}

/// A model planned for inference: run it on input tensors, get output tensors.
///
/// ```swift
/// let session = try InferenceSession(graph: model.graph)
/// let scores = try session.run(["image": batch])["output"]
/// ```
public final class InferenceSession {
    public let graph: Graph
    public let options: EngineOptions
    let steps: [Step]
    let slots: [String: Int]
    let aliases: [String: String]
    let constants: [Int: HostTensor]
    let inputSlots: [(ValueInfo, Int)]
    /// Every op keeps samples apart: a batch may run in sub-batches (`SubBatching.swift`).
    let batchSeparable: Bool
    /// Seconds spent in each step over every `run` since the last `resetProfile()`.
    public private(set) var stepSeconds: [Double]
    /// Record per-step times (a clock read per step).
    public var profiling = false
    /// The largest intermediate tensor a sub-batch may make, in bytes; 0 runs batches whole (`SubBatching.swift`).
    public var subBatchBytes = InferenceSession.defaultSubBatchBytes
    /// Freed activation buffers, reused by later steps and later runs: fresh memory costs a
    /// page fault per 4 KB on first touch, which at batch 32 was a tenth of the run.
    var pool: [Int: [[Float]]] = [:]
    let poolLock = NSLock()

    func takeBuffer(_ count: Int) -> [Float] {
        poolLock.lock()
        defer { poolLock.unlock() }
        if var list = pool[count], let buffer = list.popLast() {
            pool[count] = list
            return buffer
        }
        return [Float](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
    }

    func returnBuffer(_ buffer: [Float]) {
        poolLock.lock()
        defer { poolLock.unlock() }
        pool[buffer.count, default: []].append(buffer)
    }

    /// Makes the graph again for other input shapes, for a graph made for one size of a named
    /// dimension (an ONNX sequence length whose shape arithmetic folded at load).
    public typealias GraphMaker = @Sendable ([String: [Int]]) throws -> Graph
    let remake: GraphMaker?
    /// Plans made for other input shapes by `remake`, by those shapes (a few are kept).
    var remade: [[String: [Int]]: InferenceSession] = [:]

    /// Plans `graph`; with `remake`, inputs of other shapes than the graph's run on a graph made,
    /// and planned, for them (cached per set of input shapes).
    public init(graph: Graph, options: EngineOptions = EngineOptions(), remake: GraphMaker? = nil) throws {
        self.remake = remake
        var planner = Planner(graph: graph, optimize: options.optimize)
        try planner.build()
        var inputSlots: [(ValueInfo, Int)] = []
        for input in graph.inputs { inputSlots.append((input, planner.slot(input.name))) }
        for output in graph.outputs { _ = planner.slot(output) }
        self.graph = graph
        self.options = options
        steps = planner.steps
        slots = planner.slots
        aliases = planner.aliases
        constants = planner.constants
        self.inputSlots = inputSlots
        batchSeparable = Self.isBatchSeparable(graph)
        stepSeconds = [Double](repeating: 0, count: planner.steps.count)
    }

    /// Steps of the plan with their kinds and accumulated times, for a per-layer profile.
    public var profile: [(step: String, kind: String, seconds: Double)] {
        steps.enumerated().map { (i, s) in (s.name, s.kindName, stepSeconds[i]) }
    }

    public func resetProfile() { stepSeconds = [Double](repeating: 0, count: steps.count) }

    func slotIndex(_ name: String) -> Int? {
        var n = name
        while let a = aliases[n] { n = a }
        return slots[n]
    }

    /// Names of every value this plan can return (layer outputs, when planned without optimisation).
    public var valueNames: [String] { Array(slots.keys) + Array(aliases.keys) }

    /// Runs the model. Returns the graph outputs, plus every value named in `keep` that the plan computes.
    /// A session runs one call at a time.
    public func run(_ inputs: [String: HostTensor], keep: Set<String> = []) throws -> [String: HostTensor] {
        /// Whether a given input has exactly the (fully known) shape this plan was made for.
        func planned(_ info: ValueInfo) -> Bool {
            inputs[info.name].map { $0.shape == info.shape.dims.compactMap { $0 } && !info.shape.dims.contains(nil) } ?? true
        }
        if let remake, !inputSlots.allSatisfy({ planned($0.0) }) {
            let shapes = inputs.mapValues(\.shape)
            if let session = remade[shapes] { return try session.run(inputs, keep: keep) }
            if remade.count >= 8 { remade.removeAll() }
            let session = try InferenceSession(graph: try remake(shapes), options: options)
            session.subBatchBytes = subBatchBytes
            session.profiling = profiling
            remade[shapes] = session
            return try session.run(inputs, keep: keep)
        }
        return try run(inputs, keep: keep, split: true)
    }

    func run(_ inputs: [String: HostTensor], keep: Set<String>, split: Bool) throws -> [String: HostTensor] {
        if split, keep.isEmpty, let size = subBatchSize(inputs) { return try runInSubBatches(inputs, keep: keep, size: size) }
        var values = [HostTensor?](repeating: nil, count: slots.count)
        for (slot, tensor) in constants { values[slot] = tensor }
        for (info, slot) in inputSlots {
            guard let x = inputs[info.name] else { throw EngineError.missingInput(info.name) }
            let fits = x.shape.count == info.shape.rank && zip(x.shape, info.shape.dims).allSatisfy { $1 == nil || $0 == $1 }
            guard fits else { throw EngineError.inputShape(name: info.name, expected: info.shape, given: x.shape) }
            values[slot] = x
        }
        let shapes = try outputShapes(values.map { $0?.shape })
        var keepSlots = Set(graph.outputs.compactMap(slotIndex))
        for k in keep { if let s = slotIndex(k) { keepSlots.insert(s) } }
        // The steps themselves run in a function that cannot throw (see `execute`).
        var refusal: EngineError?
        let computed = runSteps(values, outputShapes: shapes, keepSlots: keepSlots, refusal: &refusal)
        if let refusal { throw refusal }
        var result: [String: HostTensor] = [:]
        for name in Set(graph.outputs).union(keep) {
            if let s = slotIndex(name), let v = computed[s] { result[name] = v }
        }
        return result
    }

    /// Every step's output shapes (one per output), from the shapes of the inputs and constants (a dry run).
    func outputShapes(_ initial: [[Int]?]) throws -> [[[Int]]] {
        var shapes = initial
        var result: [[[Int]]] = []
        for step in steps {
            var arguments: [Shape?] = []
            for a in step.shapeArguments {
                switch a {
                case .data(let k): arguments.append(shapes[step.inputs[k]].map { Shape($0.map { Optional($0) }) })
                case .fixed(let s): arguments.append(s)
                }
            }
            var outs: [[Int]]
            do {
                outs = try step.shapeOp.outputShapes(arguments).map { $0.dims.map { $0 ?? 0 } }
                if let pool = step.fusedPool { outs = [try pool.outputShapes([Shape(outs[0].map { Optional($0) })])[0].dims.map { $0 ?? 0 }] }
            } catch {
                throw EngineError.unsupported(layer: step.name, reason: (error as? ShapeError)?.message ?? "\(error)")
            }
            guard outs.count >= step.outputs.count else {
                throw EngineError.unsupported(layer: step.name, reason: "it makes \(outs.count) outputs, the graph reads \(step.outputs.count)")
            }
            for (slot, shape) in zip(step.outputs, outs) { shapes[slot] = shape }
            result.append(Array(outs.prefix(step.outputs.count)))
        }
        return result
    }

    /// Runs every step, freeing each value after its last reader unless it is kept.
    /// Stops at a step whose kernel refuses its inputs (`FamilyKernel.validate`), saying why in `refusal`.
    func runSteps(_ initial: [HostTensor?], outputShapes: [[[Int]]], keepSlots: Set<Int>, refusal: inout EngineError?) -> [HostTensor?] {
        BLAS.setThreads(options.threads)
        var values = initial
        var lastUse = [Int: Int]()
        for (i, step) in steps.enumerated() { for s in step.inputs { lastUse[s] = i } }
        let protected = Set(inputSlots.map(\.1)).union(constants.keys).union(keepSlots)
        for (i, step) in steps.enumerated() {
            let outShape = outputShapes[i][0]
            let start = profiling ? DispatchTime.now().uptimeNanoseconds : 0
            var dying: [Int] = []
            for s in step.inputs where lastUse[s] == i && !protected.contains(s) && !dying.contains(s) { dying.append(s) }
            var ins: [HostTensor] = []
            // The planner orders steps so that every input is computed (or given) before it is read.
            for s in step.inputs { ins.append(values[s]!) }
            if case .family(let k) = step.kernel, let problem = k.validate(ins) {
                refusal = .invalidValue(layer: k.layer.isEmpty ? step.name : k.layer, reason: problem)
                return values
            }
            if step.outputs.count > 1, case .family(let k) = step.kernel {
                // A node with several outputs (Split, TopK): each gets a buffer of its own.
                var buffers = outputShapes[i].map { takeBuffer($0.reduce(1, *)) }
                let threads = options.threads, shapes = outputShapes[i]
                withMutableBuffers(&buffers) { k.run(ins, outputs: $0, outShapes: shapes, threads: threads) }
                for (j, slot) in step.outputs.enumerated() { values[slot] = HostTensor(shape: shapes[j], data: buffers[j]) }
                ins.removeAll()
                for s in dying {
                    if let v = values[s] {
                        values[s] = nil
                        returnBuffer(v.data)
                    }
                }
            } else if case .reshape = step.kernel, step.inputs.count == 1, dying.count == 1 {
                // Same data, new shape: hand the buffer on instead of copying it.
                values[step.output] = HostTensor(shape: outShape, data: ins[0].data)
                values[step.inputs[0]] = nil
            } else {
                values[step.output] = execute(step, ins, outShape: outShape, buffer: takeBuffer(outShape.reduce(1, *)))
                ins.removeAll()
                for s in dying {
                    if let v = values[s] {
                        values[s] = nil
                        returnBuffer(v.data)
                    }
                }
            }
            for (slot, type) in zip(step.outputs, step.outputTypes) where !type.isFloatingPoint && step.computesValues {
                if let v = values[slot], let problem = Self.inexactInteger(v, type) {
                    refusal = .invalidValue(layer: step.layer, reason: problem)
                    return values
                }
            }
            if profiling { stepSeconds[i] += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        }
        return values
    }

    /// Why an integer or bool value computed in float32 storage may not be the exact value its
    /// type holds (a magnitude beyond 2^24, where float32 skips integers; a fraction); nil when exact.
    static func inexactInteger(_ t: HostTensor, _ type: DType) -> String? {
        let limit: Float = 16_777_216
        for (i, v) in t.data.enumerated() where !(v.rounded() == v && abs(v) <= limit) {
            if v.isNaN { return "its \(type.rawValue) output is NaN at element \(i)" }
            if v.rounded() != v { return "its \(type.rawValue) output holds the fraction \(v) at element \(i)" }
            return "its \(type.rawValue) output holds \(v) at element \(i), beyond the integers float32 holds exactly (2^24)"
        }
        return nil
    }

    /// Deliberately not `throws`: with a throwing signature, Swift 6.3.1's release build returned a
    /// garbage error from here (the error register clobbered around the kernels' closures).
    /// `buffer` has room for the output; its contents are garbage, so every kernel writes
    /// each output element (or zero-fills first).
    func execute(_ step: Step, _ given: [HostTensor], outShape: [Int], buffer: [Float]) -> HostTensor {
        // An empty tensor (a zero-size axis in an ONNX graph) has nothing to compute, and its
        // buffers have no base address for the kernels. Concatenation just leaves it out.
        var ins = given
        if case .concatenate = step.kernel, ins.count > 1, !buffer.isEmpty { ins.removeAll { $0.count == 0 } }
        if buffer.isEmpty || ins.contains(where: { $0.count == 0 }) {
            let fill: Float
            switch step.kernel {
            // A reduction over nothing gives its identity (ONNX: sum 0, prod 1, max −∞, min +∞).
            case .reduce(let f, _, _): fill = f == .prod ? 1 : f == .max ? -.infinity : f == .min ? .infinity : f == .mean ? .nan : 0
            // Padding nothing leaves only the padding.
            case let .axisMap(map, value):
                if case .pad = map { fill = value } else { fill = 0 }
            case .dense, .convolution, .depthwise, .pooling, .poolingND, .globalPooling, .affine, .activation, .reshape, .transpose,
                 .place, .upsample, .rescale, .elementwise, .unary, .concatenate, .resize, .imageResize, .matMul,
                 .maxPoolIndices, .argReduce, .batchShape, .family:
                fill = 0
            }
            return HostTensor(shape: outShape, data: [Float](repeating: fill, count: buffer.count))
        }
        let threads = options.threads
        // Read what the kernels need from `step` here, outside the pointer closures: reading the
        // step inside them crashed the release build (an invalid read; Swift 6.3.1).
        let kernel = step.kernel
        var offsets = [Int](repeating: 0, count: ins[0].shape.count)
        switch step.shapeOp {
        case let .zeroPadding(pads, _): for (i, p) in pads.enumerated() where 1 + i < offsets.count { offsets[1 + i] = p[0] }
        case let .cropping(crops, _): for (i, c) in crops.enumerated() where 1 + i < offsets.count { offsets[1 + i] = -c[0] }
        case let .slice(starts, _, axes):
            for (k, a) in axes.enumerated() { offsets[a < 0 ? a + offsets.count : a] = -starts[k] }
        case .dense, .convolution, .depthwiseConvolution, .pooling, .globalPooling, .batchNormalization, .activation, .dropout,
             .augmentation, .imageResize, .flatten, .reshape, .reshapeAll, .transpose, .upSampling, .rescaling,
             .elementwise, .unary, .reduce, .concatenate, .identity, .stridedSlice, .expand, .batchShape, .tile, .pad,
             .resize, .matMul, .maxPoolIndices, .argReduce, .family:
            break
        }
        var y = HostTensor(shape: outShape, data: buffer)
        let x = ins[0]
        /// 1-D ops run as 2-D ones with height 1.
        func as2D(_ s: [Int]) -> [Int] { s.count == 3 ? [s[0], 1, s[1], s[2]] : s }
        x.data.withUnsafeBufferPointer { xp in
            y.data.withUnsafeMutableBufferPointer { yp in
                switch kernel {
                case let .dense(w, units, epilogue):
                    let k = x.shape.last ?? 0
                    let m = k == 0 ? 0 : x.count / k
                    BLAS.setThreads(threads)
                    w.withUnsafeBufferPointer { wp in
                        BLAS.gemm(m: m, n: units, k: k, a: xp.baseAddress!, lda: k, b: wp.baseAddress!, ldb: units, c: yp.baseAddress!, ldc: units)
                    }
                    epilogue.apply(yp.baseAddress!, rows: m, channels: units)
                case .convolution(let k): k.run(xp, shape: as2D(x.shape), yp, outShape: as2D(outShape), threads: threads)
                case .depthwise(let k): k.run(xp, shape: as2D(x.shape), yp, outShape: as2D(outShape), threads: threads)
                case let .batchShape(offsets, factors):
                    let batch = x.shape.first ?? 1
                    for i in offsets.indices { yp[i] = Float(offsets[i] + factors[i] * batch) }
                case let .argReduce(largest, axis, selectLast):
                    ElementwiseKernels.argReduce(xp, shape: x.shape, axis: axis, largest: largest, selectLast: selectLast, yp)
                case .pooling(let k): k.run(xp, shape: as2D(x.shape), yp, outShape: as2D(outShape), threads: threads)
                case .poolingND(let k): k.run(xp, shape: x.shape, yp, outShape: outShape)
                case .globalPooling(let kind): GlobalPoolingKernel.run(kind, xp, shape: x.shape, yp)
                case let .affine(scale, shift, axis):
                    NormalizationKernels.affine(xp, shape: x.shape, axis: axis < 0 ? axis + x.shape.count : axis, scale: scale, shift: shift, yp)
                case .activation(let a):
                    yp.baseAddress!.update(from: xp.baseAddress!, count: x.count)
                    switch a {
                    case .softmax(let axis): ActivationKernel.softmax(yp, shape: x.shape, axis: axis < 0 ? axis + x.shape.count : axis, log: false)
                    case .logSoftmax(let axis): ActivationKernel.softmax(yp, shape: x.shape, axis: axis < 0 ? axis + x.shape.count : axis, log: true)
                    default: ActivationKernel.apply(a, yp)
                    }
                case .reshape:
                    yp.baseAddress!.update(from: xp.baseAddress!, count: x.count)
                case .transpose(let perm): TensorKernels.transpose(xp, shape: x.shape, permutation: perm, yp)
                case .place:
                    yp.update(repeating: 0)
                    TensorKernels.place(xp, shape: x.shape, into: yp, outShape: outShape, offsets: offsets)
                case .upsample(let bilinear): TensorKernels.upsample(xp, shape: as2D(x.shape), yp, outShape: as2D(outShape), bilinear: bilinear)
                case let .rescale(s, o): for i in 0..<x.count { yp[i] = xp[i] * s + o }
                case .elementwise(let f): ElementwiseKernels.run(f, ins, yp, outShape: outShape)
                case .unary(let f): ElementwiseKernels.unary(f, xp, yp)
                case let .reduce(f, axes, keep): ElementwiseKernels.reduce(f, xp, shape: x.shape, axes: axes, keepDims: keep, yp)
                case let .axisMap(map, fill): AxisMap.run(map, xp, shape: x.shape, yp, outShape: outShape, fill: fill)
                case .resize(let r): ResizeKernel.run(r, xp, shape: x.shape, yp, outShape: outShape)
                case .imageResize(let r): ImageResizeKernel.run(r, xp, shape: x.shape, yp)
                case .matMul: MatMulKernel.run(ins[0], ins[1], yp, outShape: outShape, threads: threads)
                case let .maxPoolIndices(k, columnMajor): k.argmax(xp, shape: x.shape, yp, outShape: outShape, columnMajor: columnMajor)
                case .family(let k): k.run(ins, outputs: [yp], outShapes: [outShape], threads: threads)
                case .concatenate(let axis):
                    let a = axis < 0 ? axis + outShape.count : axis
                    withBuffers(ins) { buffers in
                        TensorKernels.concatenate(zip(buffers, ins.map(\.shape)).map { ($0, $1) }, axis: a, yp, outShape: outShape)
                    }
                }
            }
        }
        return y
    }
}

/// Calls `body` with writable pointers to every buffer.
func withMutableBuffers<R>(_ buffers: inout [[Float]], _ body: ([UnsafeMutableBufferPointer<Float>]) -> R) -> R {
    // Each buffer is moved out of the list (so it is not copied on write) and put back after.
    var remaining = Array(buffers.reversed())
    buffers = []
    var finished: [[Float]] = []
    var pointers: [UnsafeMutableBufferPointer<Float>] = []
    func recurse() -> R {
        guard var next = remaining.popLast() else { return body(pointers) }
        let result = next.withUnsafeMutableBufferPointer { p -> R in
            pointers.append(p)
            return recurse()
        }
        finished.append(next)
        return result
    }
    let result = recurse()
    buffers = finished.reversed()
    return result
}

/// Calls `body` with read-only pointers to every tensor's data.
func withBuffers<R>(_ tensors: [HostTensor], _ body: ([UnsafeBufferPointer<Float>]) -> R) -> R {
    var pointers: [UnsafeBufferPointer<Float>] = []
    func recurse(_ i: Int) -> R {
        if i == tensors.count { return body(pointers) }
        return tensors[i].data.withUnsafeBufferPointer { p in
            pointers.append(p)
            defer { pointers.removeLast() }
            return recurse(i + 1)
        }
    }
    return recurse(0)
}

extension Epilogue {
    var suffix: String { (activation.map { "+\($0.kerasName)" } ?? "") + (postScale == nil ? "" : "+bn") }
}

extension Step {
    var kindName: String {
        switch kernel {
        case .dense(_, _, let e): return "dense" + e.suffix
        case .convolution(let k): return "conv \(k.kernel[0])x\(k.kernel[1])" + k.epilogue.suffix + (k.maxPool == nil ? "" : "+maxpool")
        case .depthwise(let k): return "depthwise \(k.kernel[0])x\(k.kernel[1])" + k.epilogue.suffix
        case .pooling(let p): return p.kind == .max ? "max pool" : "avg pool"
        case .poolingND(let k): return k.pooling.kind == .max ? "max pool" : "avg pool"
        case .globalPooling: return "global pool"
        case .affine: return "batch norm"
        case .activation(let a): return a.kerasName
        case .reshape: return "reshape"
        case .transpose: return "transpose"
        case .place: return "pad/crop"
        case .upsample: return "upsample"
        case .rescale: return "rescale"
        case .elementwise(let f): return f.rawValue
        case .unary(let f): return f.rawValue
        case .reduce(let f, _, _): return "reduce \(f.rawValue)"
        case .concatenate: return "concat"
        case .axisMap(let m, _):
            switch m {
            case .stridedSlice: return "slice"
            case .pad: return "pad"
            case .expand: return "expand"
            case .tile: return "tile"
            }
        case .resize(let r): return "resize \(r.mode.rawValue)"
        case .imageResize(let r): return "resize \(r.interpolation.rawValue)"
        case .matMul: return "matmul"
        case .maxPoolIndices: return "max pool indices"
        case .argReduce(let largest, _, _): return largest ? "argmax" : "argmin"
        case .batchShape: return "shape"
        case .family(let k): return k.kindName
        }
    }
}
