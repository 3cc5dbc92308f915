import Dispatch
import Foundation
import ModelIR

/// How BatchNormalization updates its moving variance from a training batch.
public enum MovingVarianceRule: Sendable {
    /// The biased batch variance (Keras 3; tf_keras on 2-D and 3-D inputs).
    case biased
    /// The unbiased (n/(n−1)) batch variance on 4-D and 5-D inputs, biased otherwise: TensorFlow's
    /// fused kernel, which tf_keras uses for images.
    case unbiasedForImages
    /// Always unbiased (PyTorch).
    case unbiased
}

public struct TrainingOptions: Sendable {
    public var threads: Int
    /// Seeds dropout masks and augmentation.
    public var seed: UInt64
    /// BatchNormalization nodes that stay in inference mode when training (frozen layers, as Keras does).
    public var inferenceBatchNormalization: Set<String>
    public var movingVariance: MovingVarianceRule
    /// BatchNormalization's batch statistics and gradient sums in TensorFlow's float32 order
    /// (Keras models), rather than exact float64 sums (`NormalizationGradients.tensorflowSums`).
    public var tensorflowReductions: Bool

    public init(threads: Int = ProcessInfo.processInfo.activeProcessorCount, seed: UInt64 = 0,
                inferenceBatchNormalization: Set<String> = [], movingVariance: MovingVarianceRule = .biased, tensorflowReductions: Bool = false) {
        self.threads = max(1, threads); self.seed = seed
        self.inferenceBatchNormalization = inferenceBatchNormalization; self.movingVariance = movingVariance
        self.tensorflowReductions = tensorflowReductions
    }
}

/// A model planned for training: parameters are values that change between steps, `forward`
/// keeps what `backward` needs, and `backward` returns the gradient of every trainable
/// parameter. Each op's gradient lives beside its forward kernel (`Kernels/*Gradients.swift`).
///
/// ```swift
/// let session = try TrainingSession(graph: model.graph)
/// let out = try session.forward(["image": batch], training: true)
/// let grads = try session.backward(["output": dLoss])
/// ```
public final class TrainingSession {
    /// The graph trained (channels-last); parameter names are the source graph's.
    public let graph: Graph
    public let options: TrainingOptions
    /// Every parameter's current value (float32), trainable or not.
    public internal(set) var parameters: [String: HostTensor]
    /// The parameters `backward` differentiates, in the graph's order.
    public let trainable: [String]
    /// Values that depend on a trainable parameter: only they carry gradients.
    let needsGradient: Set<String>
    var values: [String: HostTensor] = [:]
    var saved: [Int: Saved] = [:]
    var convolutions: [Int: ConvolutionKernel] = [:]
    var depthwise: [Int: DepthwiseKernel] = [:]
    var backwardConvolutions: [Int: DNNLConvolutionBackward] = [:]
    /// Convolutions whose only reader is a plain ReLU: they apply it as oneDNN's post-op and the ReLU
    /// node passes their output on (its gradient mask, output > 0, is the same as input > 0).
    let reluFused: Set<Int>

    /// oneDNN's backward primitives for convolution node `index` (nil with `MODELPORT_DNNL=0`).
    func backwardConvolution(_ index: Int) -> DNNLConvolutionBackward? {
        guard DNNLConvolution.enabled else { return nil }
        if let known = backwardConvolutions[index] { return known }
        let made = DNNLConvolutionBackward()
        backwardConvolutions[index] = made
        return made
    }
    var generator: SeededGenerator
    var lastTraining = false
    /// Buffers of earlier steps by size: fresh memory costs a page fault per 4 KB on first touch,
    /// which for the seed model at batch 32 was most of the time of the elementwise steps.
    var bufferPool: [Int: [[Float]]] = [:]
    /// When set, `backward` keeps the gradient of every value in `valueGradients` (for layer-by-layer comparisons).
    public var keepValueGradients = false
    /// Record seconds per node in `forwardSeconds` / `backwardSeconds`.
    public var profiling = false
    public var forwardSeconds: [String: Double] = [:]
    public var backwardSeconds: [String: Double] = [:]
    public private(set) var valueGradients: [String: [Float]] = [:]

    enum Saved {
        case normalized(xhat: [Float], invStd: [Float])
        case noise(DropoutKernels.Noise)
    }

    public init(graph source: Graph, trainable names: Set<String>? = nil, options: TrainingOptions = TrainingOptions()) throws {
        let g = ChannelsLastPass.run(source)
        do { _ = try g.verify() } catch let e as GraphError { throw EngineError.graph(e) }
        graph = g
        self.options = options
        var params: [String: HostTensor] = [:]
        for p in g.parameters where params[p.name] == nil { params[p.name] = HostTensor(p.tensor) }
        parameters = params
        let chosen = names ?? Set(g.parameters.filter(\.trainable).map(\.name))
        var seen = Set<String>()
        trainable = g.parameters.map(\.name).filter { chosen.contains($0) && seen.insert($0).inserted }
        var needs = Set(trainable)
        // Integer and bool values (indices, masks, comparisons) carry no gradient.
        let types = g.valueTypes()
        for node in g.nodes where node.inputs.contains(where: { needs.contains($0) }) {
            needs.formUnion(node.outputs.filter { types[$0]?.isFloatingPoint ?? true })
        }
        needsGradient = needs
        var readers: [String: Int] = [:]
        for node in g.nodes { for i in node.inputs { readers[i, default: 0] += 1 } }
        for o in g.outputs { readers[o, default: 0] += 1 }
        var fused = Set<Int>()
        for (i, node) in g.nodes.enumerated() {
            guard case .convolution(let c) = node.op, c.kernelSize.count <= 2, readers[node.outputs[0]] == 1, i + 1 < g.nodes.count,
                  case .activation(.relu(nil, 0, 0)) = g.nodes[i + 1].op, g.nodes[i + 1].inputs.first == node.outputs[0] else { continue }
            fused.insert(i)
        }
        reluFused = fused
        generator = SeededGenerator(seed: options.seed)
        for node in g.nodes { try Self.checkTrainable(node) }
    }

    /// A buffer of `count` floats from the pool (zeroed, or with whatever an earlier step left).
    func buffer(_ count: Int, zeroed: Bool) -> [Float] {
        if var list = bufferPool[count], var b = list.popLast() {
            bufferPool[count] = list
            if zeroed { b.withUnsafeMutableBufferPointer { $0.update(repeating: 0) } }
            return b
        }
        if zeroed { return [Float](repeating: 0, count: count) }
        return [Float](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
    }

    func recycle(_ b: [Float]) {
        guard b.count >= 1024 else { return }
        bufferPool[b.count, default: []].append(b)
    }

    /// The graph with the session's current parameter values.
    public func updatedGraph(_ source: Graph) -> Graph {
        var g = source
        for i in g.parameters.indices {
            guard let v = parameters[g.parameters[i].name], v.shape == g.parameters[i].tensor.shape,
                  g.parameters[i].tensor.dtype == .float32 else { continue }
            g.parameters[i].tensor = Tensor(shape: v.shape, floats: v.data)
        }
        return g
    }

    public func setParameter(_ name: String, _ value: [Float]) {
        guard var p = parameters[name], p.count == value.count else { return }
        p.data = value
        parameters[name] = p
    }

    /// A value computed by the last `forward`.
    public func value(_ name: String) -> HostTensor? { values[name] ?? parameters[name] }

    func input(_ name: String) -> HostTensor? { name.isEmpty ? nil : (values[name] ?? parameters[name]) }

    /// Runs the graph; with `training`, BatchNormalization uses (and updates its moving statistics
    /// from) the batch, and noise layers are active. Returns every graph output.
    public func forward(_ inputs: [String: HostTensor], training: Bool) throws -> [String: HostTensor] {
        // Graph inputs are the caller's; a ReLU-fused convolution's output is the ReLU's too (recycled once).
        var skipped = Set(graph.inputs.map(\.name))
        for i in reluFused { skipped.insert(graph.nodes[i].outputs[0]) }
        for (name, v) in values where !skipped.contains(name) { recycle(v.data) }
        for case .normalized(let xhat, _) in saved.values { recycle(xhat) }
        values = [:]
        saved = [:]
        lastTraining = training
        for info in graph.inputs {
            guard let x = inputs[info.name] else { throw EngineError.missingInput(info.name) }
            let fits = x.shape.count == info.shape.rank && zip(x.shape, info.shape.dims).allSatisfy { $1 == nil || $0 == $1 }
            guard fits else { throw EngineError.inputShape(name: info.name, expected: info.shape, given: x.shape) }
            values[info.name] = x
        }
        for (index, node) in graph.nodes.enumerated() {
            let start = profiling ? DispatchTime.now().uptimeNanoseconds : 0
            if node.outputs.count > 1 {
                for (i, value) in try forwardOutputs(node, index: index).enumerated() { values[node.outputName(i)] = value }
            } else {
                values[node.outputs[0]] = try forward(node, index: index, training: training)
            }
            if profiling { forwardSeconds[node.name, default: 0] += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        }
        var result: [String: HostTensor] = [:]
        for o in graph.outputs { result[o] = values[o] }
        return result
    }

    /// Gradients of every trainable parameter, given the gradient of the loss at some values
    /// (graph outputs, or values before them such as the logits of a sigmoid head).
    public func backward(_ seeds: [String: HostTensor]) throws -> [String: [Float]] {
        var grads: [String: [Float]] = [:]
        func accumulate(_ name: String, _ g: [Float]) {
            guard !name.isEmpty, needsGradient.contains(name) else { return }
            if var existing = grads.removeValue(forKey: name) {
                existing.withUnsafeMutableBufferPointer { e in g.withUnsafeBufferPointer { gp in for i in 0..<min(e.count, gp.count) { e[i] += gp[i] } } }
                grads[name] = existing
                recycle(g)
            } else {
                grads[name] = g
            }
        }
        for (name, g) in seeds { accumulate(name, g.data) }
        for (index, node) in graph.nodes.enumerated().reversed() {
            let dys = node.outputs.map { $0.isEmpty ? nil : grads[$0] }
            guard dys.contains(where: { $0 != nil }) else { continue }
            let wanted = node.inputs.map { !$0.isEmpty && needsGradient.contains($0) }
            guard wanted.contains(true) else { continue }
            let start = profiling ? DispatchTime.now().uptimeNanoseconds : 0
            let inputGrads: [[Float]?]
            if node.outputs.count > 1 {
                inputGrads = try backwardOutputs(node, index: index, dys: dys, wanted: wanted)
            } else if let dy = dys[0] {
                inputGrads = try backward(node, index: index, dy: dy, wanted: wanted)
            } else {
                continue
            }
            if profiling { backwardSeconds[node.name, default: 0] += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
            for (i, g) in inputGrads.enumerated() where i < node.inputs.count && wanted[i] { if let g { accumulate(node.inputs[i], g) } }
            for (output, dy) in zip(node.outputs, dys) where !output.isEmpty {
                if keepValueGradients, let dy { valueGradients[output] = dy }
                if !graph.outputs.contains(output), let used = grads.removeValue(forKey: output), !keepValueGradients { recycle(used) }
            }
        }
        var result: [String: [Float]] = [:]
        for name in trainable { result[name] = grads[name] ?? [Float](repeating: 0, count: parameters[name]?.count ?? 0) }
        return result
    }
}

extension TrainingSession {
    /// The training forward step of a node with several outputs (only op families have them).
    func forwardOutputs(_ node: Node, index: Int) throws -> [HostTensor] {
        guard case .family(let f) = node.op else {
            throw EngineError.notTrainable(layer: node.layer ?? node.name, reason: "\(node.op.displayName) has one output, not \(node.outputs.count)")
        }
        guard let x = input(node.inputs[0]) else { throw EngineError.missingInput(node.inputs[0]) }
        var outputs = try outputShapes(node).map { HostTensor(shape: $0, data: buffer($0.reduce(1, *), zeroed: false)) }
        try f.engine(node).trainingForward(node, index: index, x: x, outputs: &outputs, session: self)
        return outputs
    }

    /// The gradients of a node with several outputs, from the gradient of each (nil: none reaches it).
    func backwardOutputs(_ node: Node, index: Int, dys: [[Float]?], wanted: [Bool]) throws -> [[Float]?] {
        guard case .family(let f) = node.op else {
            throw EngineError.notTrainable(layer: node.layer ?? node.name, reason: "\(node.op.displayName) has one output, not \(node.outputs.count)")
        }
        guard let x = input(node.inputs[0]) else { throw EngineError.missingInput(node.inputs[0]) }
        return try f.engine(node).trainingBackward(node, index: index, x: x, dys: dys, wanted: wanted, session: self)
    }
}
