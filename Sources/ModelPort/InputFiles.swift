import Engine
import DataIO
import Foundation
import ModelIR

extension Model {
    /// Reads every array of an `.npz`, keyed by name.
    public static func readArchive(_ path: String) throws -> [String: Tensor] {
        do {
            return Dictionary(try NumpyArchive.read(path).map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
        } catch let e as DataIOError {
            throw ModelPortError(e.description)
        }
    }

    /// Reads model inputs from `.npy` (the model's one input) or `.npz` (arrays keyed by input name).
    public func readInputArrays(_ path: String) throws -> [String: Tensor] {
        do {
            if path.lowercased().hasSuffix(".npz") { return try Model.readArchive(path) }
            if path.lowercased().hasSuffix(".npy") {
                let t = try NumpyFormat.read(path)
                guard graph.inputs.count == 1, let input = graph.inputs.first else {
                    throw ModelPortError("\(path): the model has \(graph.inputs.count) inputs (\(graph.inputs.map(\.name).joined(separator: ", "))); give an .npz keyed by input name")
                }
                return [input.name: t]
            }
        } catch let e as DataIOError {
            throw ModelPortError(e.description)
        }
        throw ModelPortError("\(path): unsupported input file (expected .npy or .npz)")
    }

    /// Reads expected outputs: `.npz` keyed by layer name, or `.npy` for the model's final output.
    public func readExpectedArrays(_ path: String) throws -> [(name: String, tensor: Tensor)] {
        do {
            if path.lowercased().hasSuffix(".npz") { return try NumpyArchive.read(path) }
            if path.lowercased().hasSuffix(".npy") {
                guard graph.outputs.count == 1, let output = graph.outputs.first else {
                    throw ModelPortError("\(path): the model has \(graph.outputs.count) outputs; give an .npz keyed by output name")
                }
                let layer = graph.layers.first { $0.outputs.first == output }?.name ?? output
                return [(layer, try NumpyFormat.read(path))]
            }
        } catch let e as DataIOError {
            throw ModelPortError(e.description)
        }
        throw ModelPortError("\(path): unsupported expected-output file (expected .npz or .npy)")
    }

    /// An output in the element type the model declares for it, else the one the IR infers for it
    /// (an ArgMax's int64, a comparison's bool; float32 for what a layer computes).
    func typed(_ name: String, _ t: HostTensor, _ types: [String: DType]) -> Tensor {
        guard let type = graph.outputTypes[name] ?? types[name], type != .float32 else { return t.tensor }
        return t.tensor(as: type)
    }

    /// Writes outputs as `.npy` (one output) or `.npz` keyed by output name, atomically,
    /// each in the element type the model declares for it.
    public func writeOutputs(_ outputs: [String: HostTensor], to path: String) throws {
        let names = graph.outputs
        let types = graph.valueTypes()
        do {
            if path.lowercased().hasSuffix(".npy") {
                guard names.count == 1, let t = outputs[names[0]] else {
                    throw ModelPortError("\(path): the model has \(names.count) outputs; write an .npz instead")
                }
                try NumpyFormat.write(typed(names[0], t, types), to: path)
            } else if path.lowercased().hasSuffix(".npz") {
                try NumpyArchive.write(names.compactMap { n in outputs[n].map { (n, typed(n, $0, types)) } }, to: path)
            } else {
                throw ModelPortError("\(path): unsupported output file (use .npy or .npz)")
            }
        } catch let e as DataIOError {
            throw ModelPortError(e.description)
        }
    }
}
