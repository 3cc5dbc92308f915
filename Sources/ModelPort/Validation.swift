import DataIO
import Engine
import Foundation
import ModelIR

/// One layer's comparison with the framework's own output.
public struct LayerComparison: Sendable {
    public var name: String
    public var shape: [Int]
    public var maxAbsoluteError: Float
    /// `max |ours − theirs| / max(|theirs|, atol)`.
    public var maxRelativeError: Float
    public var passed: Bool
    /// Why it failed beyond the numbers (a shape that differs).
    public var note: String?
}

public struct ValidationReport: Sendable {
    public var atol: Float
    public var rtol: Float
    public var layers: [LayerComparison]
    public var passed: Bool { layers.allSatisfy(\.passed) }
    public var firstFailure: String? { layers.first { !$0.passed }?.name }

    public var json: JSONValue {
        ["passed": .bool(passed), "first_failure": firstFailure.map(JSONValue.string) ?? .null,
         "atol": .number(Double(atol)), "rtol": .number(Double(rtol)),
         "layers": .array(layers.map { l in
             ["name": .string(l.name), "shape": .array(l.shape.map { .number(Double($0)) }),
              "max_abs_error": .number(Double(l.maxAbsoluteError)), "max_rel_error": .number(Double(l.maxRelativeError)),
              "passed": .bool(l.passed)]
         })]
    }
}

extension Model {
    /// The value holding a layer's output (a Keras layer name, or a value/node name).
    public func valueName(forLayer name: String) -> String? {
        if let layer = graph.layers.first(where: { $0.name == name }), let v = layer.outputs.first { return v }
        if graph.inputs.contains(where: { $0.name == name }) || graph.nodes.contains(where: { $0.outputs.contains(name) }) { return name }
        return nil
    }

    /// Runs the model once, unoptimised, and compares each expected array with the layer's output
    /// (numpy's `allclose`: `|ours − theirs| <= atol + rtol·|theirs|`).
    public func validate(inputs: [String: HostTensor], expected: [(name: String, tensor: Tensor)], expectedSource: String,
                         atol: Float = 1e-5, rtol: Float = 1e-4, threads: Int? = nil) throws -> ValidationReport {
        var wanted: [(String, String, Tensor)] = []
        for (name, tensor) in expected {
            guard let value = valueName(forLayer: name) else {
                throw ModelPortError("\(expectedSource): the model has no layer or output named '\(name)'")
            }
            wanted.append((name, value, tensor))
        }
        let session = try self.session(threads: threads, optimize: false)
        let outputs: [String: HostTensor]
        do { outputs = try session.run(inputs, keep: Set(wanted.map(\.1))) } catch { throw ModelPortError("\(path): \(error)") }
        var layers: [LayerComparison] = []
        for (name, value, tensor) in wanted {
            guard let ours = outputs[value] else {
                layers.append(LayerComparison(name: name, shape: tensor.shape, maxAbsoluteError: .infinity, maxRelativeError: .infinity,
                                              passed: false, note: "the engine did not produce this layer's output"))
                continue
            }
            let theirs = tensor.floats()
            guard ours.shape == tensor.shape else {
                layers.append(LayerComparison(name: name, shape: ours.shape, maxAbsoluteError: .infinity, maxRelativeError: .infinity,
                                              passed: false, note: "shape \(ours.shape) differs from the expected \(tensor.shape)"))
                continue
            }
            var maxAbs: Float = 0, maxRel: Float = 0
            var passed = true
            for (a, b) in zip(ours.data, theirs) {
                let d = abs(a - b)
                if d.isNaN || !(d <= atol + rtol * abs(b)) { if !(a.isNaN && b.isNaN) { passed = false } }
                if !d.isNaN {
                    maxAbs = max(maxAbs, d)
                    maxRel = max(maxRel, d / max(abs(b), atol))
                }
            }
            layers.append(LayerComparison(name: name, shape: ours.shape, maxAbsoluteError: maxAbs, maxRelativeError: maxRel, passed: passed))
        }
        return ValidationReport(atol: atol, rtol: rtol, layers: layers)
    }
}
