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

    static func arrays(_ name: String) throws -> [String: Tensor] { try Fixtures.arrays(typed(name)) }

    @Test("every value has its element type: ids and their hashes int64 (integer Div a quotient cast back), embeddings and scores float32")
    func valueTypes() throws {
        let model = try Model.load(Self.typed("hash_buckets.onnx"))
        let types = model.graph.valueTypes()
        #expect(types["input_ids"] == .int64)
        #expect(types["prob"] == .float32)
        #expect(types["pred"] == .float32, "a comparison cast to float")
        var casts = 0
        for node in model.graph.nodes {
            switch node.op {
            case .elementwise(.multiply), .elementwise(.add), .elementwise(.modulo):
                #expect(types[node.outputs[0]] == .int64, "\(node.name)")
            case .elementwise(.greater):
                #expect(types[node.outputs[0]] == .bool, "\(node.name)")
            case .family(let f) where f.base is Cast:
                casts += 1
                #expect(types[node.outputs[0]] == (f.base as? Cast)?.to, "\(node.name)")
            case .family(let f) where f.base is Gather:
                #expect(types[node.outputs[0]] == .float32, "\(node.name): rows of a float table")
            default:
                break
            }
        }
        #expect(casts == 2, "the integer Div's truncation and pred's cast")
    }

    @Test("hash products below 2^24 run within 1e-6 of onnxruntime; past it the run stops naming the node, never a wrong bucket")
    func exactOrRefused() throws {
        let model = try Model.load(Self.typed("hash_buckets.onnx"))
        let inputs = try Self.arrays("inputs.npz"), expected = try Self.arrays("expected.npz")
        let session = try model.session(threads: 1)
        let small = try model.prepareInputs(["input_ids": try #require(inputs["small"])], source: "small")
        let outputs = try model.predict(small, session: session)
        let prob = try #require(outputs["prob"])
        let reference = try #require(expected["small"]).floats()
        let worst = zip(prob.data, reference).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst <= 1e-6, "max |ours − onnxruntime| \(worst)")
        // Written in the types the file declares: pred is float32 although a comparison made it.
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("typed-\(getpid()).npz").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try model.writeOutputs(outputs, to: file)
        let written = Dictionary(try NumpyArchive.read(file).map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
        #expect(written["pred"]?.dtype == .float32 && written["prob"]?.dtype == .float32)
        #expect(written["pred"]?.floats() == (try #require(expected["small/pred"])).floats())
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
