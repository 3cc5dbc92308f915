import ArgumentParser
import ModelPort

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a model's inputs, outputs, layers, parameter counts and training configuration.",
        discussion: """
        The table lists layers as Keras' model.summary() does: name (type), output shape, \
        parameter count and the layers feeding it; a nested model's layers are indented under it.

          $ modelport inspect Fixtures/keras/seed_sigmoid.h5
          $ modelport inspect seed.weights.h5 --architecture seed.keras --json
        """
    )

    @Argument(help: "The model file (.h5, .keras, .weights.h5).")
    var model: String

    @Option(help: "The architecture (a full .h5, .keras or JSON file) for a weights-only MODEL.")
    var architecture: String?

    @Flag(help: "Print JSON (Schemas/inspect.schema.json) instead of a table.")
    var json = false

    func run() throws {
        let loaded = try Model.load(model, architecture: architecture)
        let summary = loaded.summary()
        print(json ? summary.json.pretty() : summary.text)
    }
}
