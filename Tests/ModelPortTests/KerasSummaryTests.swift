import Foundation
import ModelIR
import ModelPort
import Testing

/// One fixture model in one file format, and the report of the framework that wrote it.
struct SummaryCase: CustomTestStringConvertible, Sendable {
    var model: String
    var file: String
    var architecture: String?
    var reference: String
    var testDescription: String { architecture.map { "\(file) + \($0)" } ?? file }
}

let fixtureModels = ["seed_sigmoid", "seed_softmax", "functional", "mobilenet_transfer", "mlp", "nested", "activations", "channels_first"]

let summaryCases: [SummaryCase] = fixtureModels.flatMap { m in [
    SummaryCase(model: m, file: "\(m).h5", reference: "\(m).keras2.json"),
    SummaryCase(model: m, file: "\(m)_weights.h5", architecture: "\(m).json", reference: "\(m).keras2.json"),
    SummaryCase(model: m, file: "\(m)_weights.h5", architecture: "\(m).h5", reference: "\(m).keras2.json"),
    SummaryCase(model: m, file: "\(m).keras", reference: "\(m).keras3.json"),
    SummaryCase(model: m, file: "\(m).weights.h5", architecture: "\(m).keras", reference: "\(m).keras3.json"),
] } + [
    SummaryCase(model: "tfop", file: "tfop.h5", reference: "tfop.keras2.json"),
    SummaryCase(model: "tfop", file: "tfop_weights.h5", architecture: "tfop.json", reference: "tfop.keras2.json"),
    SummaryCase(model: "many_layers", file: "many_layers.h5", reference: "many_layers.keras2.json"),
    SummaryCase(model: "many_layers", file: "many_layers_weights.h5", architecture: "many_layers.h5", reference: "many_layers.keras2.json"),
]

func shapeJSON(_ s: Shape) -> JSONValue { .array(s.dims.map { $0.map { .number(Double($0)) } ?? .null }) }

@Suite("inspect agrees with what Keras reports")
struct KerasSummaryTests {
    @Test("layer names, classes, output shapes and parameter counts equal Keras'", arguments: summaryCases)
    func summaryMatchesKeras(_ c: SummaryCase) throws {
        let reference = try JSONValue(parsing: String(contentsOfFile: Fixtures.keras(c.reference), encoding: .utf8))
        let model = try Model.load(Fixtures.keras(c.file), architecture: c.architecture.map(Fixtures.keras))
        let summary = model.summary()
        let expected = reference["layers"]?.array ?? []

        #expect(summary.layers.map(\.name) == expected.map { $0["name"]?.string ?? "" })
        for (row, want) in zip(summary.layers, expected) {
            #expect(row.type == want["class_name"]?.string, "class of \(row.name)")
            #expect(row.parameters == want["parameters"]?.int, "parameters of \(row.name)")
            #expect(row.trainableParameters == want["trainable_parameters"]?.int, "trainable parameters of \(row.name)")
            #expect(row.parent == want["parent"]?.string, "parent of \(row.name)")
            let shape: JSONValue = row.outputShapes.count == 1 ? shapeJSON(row.outputShapes[0]) : .array(row.outputShapes.map(shapeJSON))
            #expect(shape == want["output_shape"], "output shape of \(row.name)")
        }
        #expect(summary.parameters == reference["total_parameters"]?.int)
        #expect(summary.trainableParameters == reference["trainable_parameters"]?.int)
        #expect(summary.nonTrainableParameters == reference["non_trainable_parameters"]?.int)
        #expect(summary.inputs.map { shapeJSON($0.shape) } == reference["inputs"]?.array?.map { $0["shape"] ?? .null })
        #expect(summary.outputs.map { shapeJSON($0.shape) } == reference["outputs"]?.array?.map { $0["shape"] ?? .null })
        #expect(summary.modelClass == reference["model_class"]?.string)
    }
}
