import Foundation
import HDF5
import ModelIR
import ZIPFoundation

/// Why a model cannot be written as a Keras file. The caller names the target file.
public enum KerasWriteError: Error, CustomStringConvertible {
    case notKeras(SourceFormat)
    case needsArchitecture
    case missingParameter(String)
    case unsupportedElementType(String)
    case cannotExpress(String)
    case hdf5(HDF5Error)
    case zip(String)

    public var description: String {
        switch self {
        case .notKeras(let f): return "'\(f.rawValue)' is not a Keras file format"
        case .needsArchitecture:
            return "the model has no Keras architecture to write (it came from a weights-only file read without --architecture)"
        case .missingParameter(let p): return "the weights tree refers to '\(p)', which the model no longer has"
        case .unsupportedElementType(let t): return "Keras files cannot hold \(t) weights"
        case .cannotExpress(let why): return why
        case .hdf5(let e): return e.description
        case .zip(let why): return "cannot write the .keras archive (\(why))"
        }
    }
}

/// Writes a graph as one of the four Keras file kinds.
///
/// A model read from Keras is written back from what its file said (configs verbatim, the
/// weights tree replayed with the current weights, optimizer state kept); one from the other
/// Keras generation, or from ONNX, has its config and weights tree made from the graph.
///
/// ```swift
/// try KerasWriter.write(graph, as: .kerasV3, to: "model.keras")
/// ```
public enum KerasWriter {
    /// The bytes of `graph` as a file of `format`. Everything is built in memory, so the
    /// caller's single write to disk is the only step that can meet a full disk.
    public static func data(_ graph: Graph, as format: SourceFormat) throws -> Data {
        do {
            switch format {
            case .kerasH5: return try keras2(graph, fullModel: true)
            case .kerasH5Weights: return try keras2(graph, fullModel: false)
            case .kerasV3: return try keras3Archive(graph)
            case .kerasV3Weights: return try keras3Weights(graph)
            case .onnx, .none: throw KerasWriteError.notKeras(format)
            }
        } catch let e as HDF5Error {
            throw KerasWriteError.hdf5(e)
        }
    }

    // MARK: Keras 2

    static func keras2(_ graph: Graph, fullModel: Bool) throws -> Data {
        let plan = try Keras2FilePlan(graph)
        let file = try HDF5File(inMemoryNamed: "model-\(UUID().uuidString).h5")
        let root = try file.root
        if fullModel {
            try root.setAttribute("backend", .string(plan.backend))
            try root.setAttribute("keras_version", .string(plan.kerasVersion))
            try root.setAttribute("model_config", .string(plan.modelConfig))
            if let training = plan.trainingConfig { try root.setAttribute("training_config", .string(training)) }
            try plan.weights.write(into: try root.createGroup("model_weights"), graph: graph)
            if let optimizer = plan.optimizerWeights {
                try optimizer.write(into: try root.createGroup("optimizer_weights"), graph: graph)
            }
        } else {
            try plan.weights.write(into: root, graph: graph)
        }
        return Data(try file.image())
    }

    // MARK: Keras 3

    static func keras3Weights(_ graph: Graph) throws -> Data {
        try weightsImage(try Keras3FilePlan(graph, needsConfig: false), graph: graph)
    }

    private static func weightsImage(_ plan: Keras3FilePlan, graph: Graph) throws -> Data {
        let file = try HDF5File(inMemoryNamed: "model-\(UUID().uuidString).weights.h5")
        try plan.weights.write(into: try file.root, graph: graph)
        return Data(try file.image())
    }

    /// A `.keras` zip as Keras 3 writes it: metadata.json, config.json, model.weights.h5, all stored.
    static func keras3Archive(_ graph: Graph) throws -> Data {
        let plan = try Keras3FilePlan(graph, needsConfig: true)
        let weights = try weightsImage(plan, graph: graph)
        do {
            let archive = try Archive(accessMode: .create)
            try add(Data(plan.fileMetadata.utf8), as: "metadata.json", to: archive)
            try add(Data(plan.modelConfig.utf8), as: "config.json", to: archive)
            try add(weights, as: "model.weights.h5", to: archive)
            guard let data = archive.data else { throw KerasWriteError.zip("no archive data") }
            return data
        } catch let e as KerasWriteError {
            throw e
        } catch {
            throw KerasWriteError.zip("\(error)")
        }
    }

    private static func add(_ data: Data, as name: String, to archive: Archive) throws {
        try archive.addEntry(with: name, type: .file, uncompressedSize: Int64(data.count),
                             modificationDate: Date(), compressionMethod: .none) { position, size in
            data.subdata(in: Int(position)..<Int(position) + size)
        }
    }
}

/// What a Keras 2 file holds for a graph: kept from a Keras 2 source, or made from the graph.
struct Keras2FilePlan {
    var backend = "tensorflow"
    var kerasVersion = "2.21.0"
    var modelConfig = ""
    var trainingConfig: String?
    var weights = StoredGroup()
    var optimizerWeights: StoredGroup?

    init(_ graph: Graph) throws {
        let source = graph.metadata.source
        switch graph.metadata.format {
        case .kerasH5, .kerasH5Weights:
            guard let tree = source.weights else { throw KerasWriteError.cannotExpress("the model's weights tree was not kept at load") }
            weights = tree
            optimizerWeights = source.optimizerWeights
            if let b = graph.metadata.backend { backend = b }
            if let v = graph.metadata.frameworkVersion { kerasVersion = v }
            trainingConfig = source.trainingConfig
            modelConfig = source.modelConfigIsKeras3 ? "" : source.modelConfig ?? ""
        case .onnx, .none:
            let keras = try KerasLayerGraph(expressing: graph)
            modelConfig = keras.keras2Config().description
            weights = keras.keras2Weights()
        case .kerasV3, .kerasV3Weights:
            try translate(keras3: graph)
        }
        if modelConfig.isEmpty { throw KerasWriteError.needsArchitecture }
    }

    /// A Keras 3 model in tf_keras' dialect: its config translated, its weights laid out anew,
    /// its optimizer state carried over.
    private mutating func translate(keras3 graph: Graph) throws {
        let source = graph.metadata.source
        guard let text = source.modelConfig, let parsed = try? JSONValue(parsing: text) else { throw KerasWriteError.needsArchitecture }
        var config = parsed
        var compile: JSONValue?
        if source.modelConfigIsKeras3 {
            compile = parsed["compile_config"].flatMap { $0.isNull ? nil : $0 }
            let translated = try KerasGenerationConfig(graph).keras2(fromKeras3: parsed)
            config = translated.model
            trainingConfig = translated.training?.description
        } else {
            trainingConfig = source.trainingConfig
        }
        modelConfig = config.description
        let layout = KerasGenerationWeights(graph: graph).keras2Tree(config)
        weights = layout.tree
        if let optimizer = source.weights?.group("optimizer"), let state = KerasOptimizerState(training: compile) {
            optimizerWeights = state.keras2Group(fromKeras3: optimizer, trainable: layout.trainable)
        }
    }
}

/// What a Keras 3 file holds for a graph.
struct Keras3FilePlan {
    var modelConfig = ""
    var fileMetadata = ""
    var weights = StoredGroup()

    init(_ graph: Graph, needsConfig: Bool) throws {
        let source = graph.metadata.source
        switch graph.metadata.format {
        case .kerasV3, .kerasV3Weights:
            guard let tree = source.weights else { throw KerasWriteError.cannotExpress("the model's weights tree was not kept at load") }
            weights = tree
            if needsConfig {
                guard let config = source.modelConfig, source.modelConfigIsKeras3 else { throw KerasWriteError.needsArchitecture }
                modelConfig = config
                fileMetadata = source.fileMetadata ?? Self.metadata(version: graph.metadata.frameworkVersion ?? "3.15.1")
            }
        case .onnx, .none:
            let keras = try KerasLayerGraph(expressing: graph)
            var config = keras.keras3Config()
            config["compile_config"] = .null
            modelConfig = JSONValue.object(config).description
            fileMetadata = Self.metadata(version: "3.15.1")
            weights = keras.keras3Weights()
        case .kerasH5, .kerasH5Weights:
            try translate(keras2: graph)
        }
    }

    /// A tf_keras model in Keras 3's dialect: its config translated (with a compile config from
    /// its training config), its weights laid out by Keras 3's keys, its optimizer state carried over.
    private mutating func translate(keras2 graph: Graph) throws {
        let source = graph.metadata.source
        guard let text = source.modelConfig, let parsed = try? JSONValue(parsing: text) else { throw KerasWriteError.needsArchitecture }
        let training = source.trainingConfig.flatMap { try? JSONValue(parsing: $0) }
        let config = source.modelConfigIsKeras3 ? parsed : try KerasGenerationConfig(graph).keras3(fromKeras2: parsed, training: training)
        modelConfig = config.description
        fileMetadata = Self.metadata(version: "3.15.1")
        let layout = KerasGenerationWeights(graph: graph).keras3Tree(config)
        weights = layout.tree
        if let optimizer = source.optimizerWeights, let state = KerasOptimizerState(training: training),
           let group = state.keras3Group(fromKeras2: optimizer, trainable: layout.trainable) {
            weights.members.insert(.group("optimizer", group), at: 1)
        }
    }

    static func metadata(version: String) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd@HH:mm:ss"
        return "{\"keras_version\": \(JSONValue.string(version)), \"date_saved\": \(JSONValue.string(formatter.string(from: Date())))}"
    }
}

extension KerasLayerGraph {
    /// The Keras layers for a graph with no Keras config, or the writer's error.
    init(expressing graph: Graph) throws {
        do { try self.init(translating: graph) } catch let e as NoKerasEquivalent {
            throw KerasWriteError.cannotExpress(e.message)
        }
    }
}
