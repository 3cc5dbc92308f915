import DataIO
import Foundation
import ModelIR
import ModelPort
import Testing

/// Element types through the IR and the engine (Fixtures/make_typed_fixtures.py): a torch model that
/// hashes int64 token ids into embedding buckets with integer arithmetic in the graph.
@Suite("element types: int64 arithmetic inside a model")
struct ElementTypeTests {
    static func typed(_ name: String) -> String { Fixtures.root.appendingPathComponent("typed").appendingPathComponent(name).path }

    static func arrays(_ name: String) throws -> [String: Tensor] {
        Dictionary(try NumpyArchive.read(typed(name)).map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
    }

    @Test("every value has its element type: ids and their hashes int64, embeddings and the score float32")
    func valueTypes() throws {
        let model = try Model.load(Self.typed("hash_buckets.onnx"))
        let types = model.graph.valueTypes()
        #expect(types["input_ids"] == .int64)
        #expect(types["prob"] == .float32)
        for node in model.graph.nodes {
            switch node.op {
            case .elementwise(.multiply), .elementwise(.add), .elementwise(.modulo):
                #expect(types[node.outputs[0]] == .int64, "\(node.name)")
            case .family(let f) where f.base is Gather:
                #expect(types[node.outputs[0]] == .float32, "\(node.name): rows of a float table")
            default:
                break
            }
        }
    }

    @Test("hash products below 2^24 run within 1e-6 of onnxruntime; past it the run stops naming the node, never a wrong bucket")
    func exactOrRefused() throws {
        let model = try Model.load(Self.typed("hash_buckets.onnx"))
        let inputs = try Self.arrays("inputs.npz"), expected = try Self.arrays("expected.npz")
        let session = try model.session(threads: 1)
        let small = try model.prepareInputs(["input_ids": try #require(inputs["small"])], source: "small")
        let prob = try #require(try model.predict(small, session: session)["prob"])
        let reference = try #require(expected["small"]).floats()
        let worst = zip(prob.data, reference).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst <= 1e-6, "max |ours − onnxruntime| \(worst)")
        let large = try model.prepareInputs(["input_ids": try #require(inputs["large"])], source: "large")
        do {
            _ = try model.predict(large, session: session, source: "large.npz")
            Issue.record("ids whose products pass 2^24 ran")
        } catch {
            let message = "\(error)"
            #expect(message.contains("/Mul") && message.contains("2^24") && message.contains("int64"), "\(message)")
        }
    }
}
