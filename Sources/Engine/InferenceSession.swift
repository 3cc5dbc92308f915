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

    public init(graph: Graph, options: EngineOptions = EngineOptions()) throws(EngineError) {
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
    }

    func slotIndex(_ name: String) -> Int? {
        var n = name
        while let a = aliases[n] { n = a }
        return slots[n]
    }

    /// Names of every value this plan can return (layer outputs, when planned without optimisation).
    public var valueNames: [String] { Array(slots.keys) + Array(aliases.keys) }

    /// Runs the model. Returns the graph outputs, plus every value named in `keep` that the plan computes.
    public func run(_ inputs: [String: HostTensor], keep: Set<String> = []) throws(EngineError) -> [String: HostTensor] {
        BLAS.setThreads(options.threads)
        var values = [HostTensor?](repeating: nil, count: slots.count)
        for (slot, tensor) in constants { values[slot] = tensor }
        for (info, slot) in inputSlots {
            guard let x = inputs[info.name] else { throw .missingInput(info.name) }
            let fits = x.shape.count == info.shape.rank && zip(x.shape, info.shape.dims).allSatisfy { $1 == nil || $0 == $1 }
            guard fits else { throw .inputShape(name: info.name, expected: info.shape, given: x.shape) }
            values[slot] = x
        }
        // Free each value after its last reader, unless it must be returned.
        var keepSlots = Set(graph.outputs.compactMap(slotIndex))
        for k in keep { if let s = slotIndex(k) { keepSlots.insert(s) } }
        var lastUse = [Int: Int]()
        for (i, step) in steps.enumerated() { for s in step.inputs { lastUse[s] = i } }

        for (i, step) in steps.enumerated() {
            let ins = step.inputs.map { values[$0]! }
            var shapeArgs: [Shape?] = []
            for a in step.shapeArguments {
                switch a {
                case .data(let k): shapeArgs.append(Shape(ins[k].shape.map { Optional($0) }))
                case .fixed(let s): shapeArgs.append(s)
                }
            }
            let outShape: [Int]
            do {
                outShape = try step.shapeOp.outputShapes(shapeArgs)[0].dims.map { $0 ?? 0 }
            } catch {
                throw .unsupported(layer: step.name, reason: error.message)
            }
            values[step.output] = try execute(step, ins, outShape: outShape)
            for s in step.inputs where lastUse[s] == i && !keepSlots.contains(s) && constants[s] == nil { values[s] = nil }
        }
        var result: [String: HostTensor] = [:]
        for name in Set(graph.outputs).union(keep) {
            if let s = slotIndex(name), let v = values[s] { result[name] = v }
        }
        return result
    }

    func execute(_ step: Step, _ ins: [HostTensor], outShape: [Int]) throws(EngineError) -> HostTensor {
        var y = HostTensor(zeros: outShape)
        let x = ins[0]
        /// 1-D ops run as 2-D ones with height 1.
        func as2D(_ s: [Int]) -> [Int] { s.count == 3 ? [s[0], 1, s[1], s[2]] : s }
        x.data.withUnsafeBufferPointer { xp in
            y.data.withUnsafeMutableBufferPointer { yp in
                switch step.kernel {
                case let .dense(w, b, units, activation):
                    let k = x.shape.last ?? 0
                    let m = k == 0 ? 0 : x.count / k
                    w.withUnsafeBufferPointer { wp in
                        BLAS.gemm(m: m, n: units, k: k, a: xp.baseAddress!, lda: k, b: wp.baseAddress!, ldb: units, c: yp.baseAddress!, ldc: units)
                    }
                    ConvolutionKernel.epilogue(yp, channels: units, bias: b, activation: activation)
                case .convolution(let k): k.run(xp, shape: as2D(x.shape), yp, outShape: as2D(outShape))
                case .depthwise(let k): k.run(xp, shape: as2D(x.shape), yp, outShape: as2D(outShape))
                case .transposed(let k): k.run(xp, shape: as2D(x.shape), yp, outShape: as2D(outShape))
                case .pooling(let k): k.run(xp, shape: as2D(x.shape), yp, outShape: as2D(outShape))
                case .globalPooling(let kind): GlobalPoolingKernel.run(kind, xp, shape: x.shape, yp)
                case let .affine(scale, shift, axis):
                    NormalizationKernels.affine(xp, shape: x.shape, axis: axis < 0 ? axis + x.shape.count : axis, scale: scale, shift: shift, yp)
                case let .layerNormalization(axes, eps, gamma, beta):
                    NormalizationKernels.layerNorm(xp, shape: x.shape, axes: axes, epsilon: eps, gamma: gamma, beta: beta, yp)
                case .activation(let a):
                    yp.baseAddress!.update(from: xp.baseAddress!, count: x.count)
                    switch a {
                    case .softmax(let axis): ActivationKernel.softmax(yp, shape: x.shape, axis: axis < 0 ? axis + x.shape.count : axis, log: false)
                    case .logSoftmax(let axis): ActivationKernel.softmax(yp, shape: x.shape, axis: axis < 0 ? axis + x.shape.count : axis, log: true)
                    default: ActivationKernel.apply(a, yp)
                    }
                case .prelu(let alpha):
                    let period = alpha.count
                    let sample = x.shape.dropFirst().reduce(1, *)
                    let index = TensorKernels.broadcastIndex(Array(step.shapeArgumentsAlphaShape), to: Array(x.shape.dropFirst()))
                    for i in 0..<x.count {
                        let v = xp[i]
                        let j = i % sample
                        let a = alpha[index.map { $0[j] } ?? (j % period)]
                        yp[i] = v >= 0 ? v : a * v
                    }
                case .reshape:
                    yp.baseAddress!.update(from: xp.baseAddress!, count: x.count)
                case .transpose(let perm): TensorKernels.transpose(xp, shape: x.shape, permutation: perm, yp)
                case .place:
                    var offsets = [Int](repeating: 0, count: x.shape.count)
                    switch step.shapeOp {
                    case let .zeroPadding(pads, _): for (i, p) in pads.enumerated() { offsets[1 + i] = p[0] }
                    case let .cropping(crops, _): for (i, c) in crops.enumerated() { offsets[1 + i] = -c[0] }
                    default: break
                    }
                    TensorKernels.place(xp, shape: x.shape, into: yp, outShape: outShape, offsets: offsets)
                case .upsample(let bilinear): TensorKernels.upsample(xp, shape: as2D(x.shape), yp, outShape: as2D(outShape), bilinear: bilinear)
                case let .rescale(s, o): for i in 0..<x.count { yp[i] = xp[i] * s + o }
                case .elementwise(let f): ElementwiseKernels.run(f, ins, yp, outShape: outShape)
                case .unary(let f): ElementwiseKernels.unary(f, xp, yp)
                case let .reduce(f, axes, keep): ElementwiseKernels.reduce(f, xp, shape: x.shape, axes: axes, keepDims: keep, yp)
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

extension Step {
    /// The PReLU alpha's shape (without batch), from the shape arguments.
    var shapeArgumentsAlphaShape: [Int] {
        if shapeArguments.count > 1, case .fixed(let s?) = shapeArguments[1] { return s.dims.map { $0 ?? 1 } }
        return []
    }
}
