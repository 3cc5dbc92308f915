import Foundation
import HDF5
import ModelIR
import ZIPFoundation

/// The Keras file kinds ModelPort reads, told apart by content rather than extension.
public enum KerasFileKind: String, Sendable {
    /// Keras 2 `model.save('m.h5')`: config, weights and training config.
    case kerasH5 = "keras-h5"
    /// Keras 2 `model.save_weights('w.h5')`.
    case kerasH5Weights = "keras-h5-weights"
    /// Keras 3 `model.save('m.keras')`: a zip of config.json, metadata.json, model.weights.h5.
    case kerasV3 = "keras-v3"
    /// Keras 3 `model.save_weights('m.weights.h5')`.
    case kerasV3Weights = "keras-v3-weights"
    /// `model.to_json()`: an architecture without weights.
    case kerasJSON = "keras-json"

    public var holdsArchitecture: Bool { self == .kerasH5 || self == .kerasV3 || self == .kerasJSON }
    public var holdsWeights: Bool { self != .kerasJSON }
    /// The model file format, for a kind that holds weights.
    public var format: SourceFormat? { SourceFormat(rawValue: rawValue) }
}

/// Loads Keras models of every format into a ModelIR graph.
///
/// ```swift
/// let graph = try KerasModelLoader.load("seed.h5")
/// let graph = try KerasModelLoader.load("seed.weights.h5", architecture: "seed.keras")
/// ```
public enum KerasModelLoader {
    /// Tells what kind of Keras file `path` is.
    public static func detect(_ path: String) throws -> KerasFileKind {
        guard FileManager.default.fileExists(atPath: path) else { throw KerasError.fileNotFound(path) }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw KerasError.unrecognizedFile(path, reason: "the file cannot be read")
        }
        let head = (try? handle.read(upToCount: 8)) ?? nil
        try? handle.close()
        guard let head, !head.isEmpty else { throw KerasError.unrecognizedFile(path, reason: "the file is empty") }
        let bytes = [UInt8](head)
        if bytes.starts(with: [0x50, 0x4B]) { return .kerasV3 }
        if HDF5File.isHDF5(path) { return try classifyHDF5(path) }
        if bytes.starts(with: [0x89, 0x48, 0x44, 0x46]) {
            throw KerasError.unrecognizedFile(path, reason: "an HDF5 file that cannot be opened (truncated or damaged?)")
        }
        if let first = bytes.first(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }), first == UInt8(ascii: "{") { return .kerasJSON }
        throw KerasError.unrecognizedFile(path, reason: "not a Keras model (expected an HDF5 .h5 file, a .keras zip archive or a JSON architecture)")
    }

    private static func classifyHDF5(_ path: String) throws -> KerasFileKind {
        let root = try hdf5 { try HDF5File(reading: path).root }
        if root.hasAttribute("model_config") { return .kerasH5 }
        if root.hasAttribute("layer_names") || root.hasAttribute("layer_names0") { return .kerasH5Weights }
        if root.kind(of: "layers") == .group || root.kind(of: "_layer_checkpoint_dependencies") == .group { return .kerasV3Weights }
        throw KerasError.notAKerasFile(path, reason: "an HDF5 file without Keras structure: no model_config, layer_names or layers/ group")
    }

    /// Loads a model; weights-only files need `architecture` (a full model or JSON file).
    public static func load(_ path: String, architecture: String? = nil) throws -> Graph {
        let kind = try detect(path)
        var graph: Graph
        switch kind {
        case .kerasH5:
            let root = try hdf5 { try HDF5File(reading: path).root }
            let config = try modelConfig(fromH5Root: root, file: path)
            let weights = root.kind(of: "model_weights") == .group ? try hdf5 { try root.group("model_weights") } : root
            let configFlavour = flavour(of: config, version: try hdf5 { try root.attribute("keras_version")?.stringValue })
            let built = try build(config: config, file: path, weights: Keras2WeightSource(group: weights, file: path), flavour: configFlavour)
            graph = built.graph
            graph.metadata.frameworkVersion = try hdf5 { try root.attribute("keras_version")?.stringValue }
            graph.metadata.backend = try hdf5 { try root.attribute("backend")?.stringValue }
            let trainingText = try hdf5 { try root.attribute("training_config")?.stringValue }
            if let trainingText {
                graph.metadata.trainingConfig = try? normalizedTrainingConfig(JSONValue(parsing: trainingText))
            }
            graph.metadata.source.modelConfig = try hdf5 { try root.attribute("model_config")?.stringValue }
            graph.metadata.source.modelConfigIsKeras3 = configFlavour == .keras3
            graph.metadata.source.trainingConfig = trainingText
            graph.metadata.source.weights = try snapshot(weights, built.parameterPaths, file: path)
            if root.kind(of: "optimizer_weights") == .group {
                graph.metadata.source.optimizerWeights = try snapshot(try hdf5 { try root.group("optimizer_weights") }, [:], file: path)
            }
        case .kerasV3:
            let archive = try KerasArchive(path: path)
            defer { archive.removeTemporaryFiles() }
            let weightsRoot: HDF5Group
            do { weightsRoot = try HDF5File(reading: archive.weightsPath).root } catch let e as HDF5Error {
                // HDF5 names the extracted temporary file; the user knows the .keras.
                let reason = e.description.replacingOccurrences(of: archive.weightsPath + ": ", with: "")
                throw KerasError.unrecognizedFile(path, reason: "its model.weights.h5 cannot be read: \(reason)")
            }
            let built: (graph: Graph, parameterPaths: [String: String])
            do {
                built = try build(config: archive.config, file: path,
                                  weights: Keras3WeightSource(root: weightsRoot, file: path, config: archive.config), flavour: .keras3)
            } catch KerasError.hdf5(let e) {
                // HDF5 names the extracted temporary file; the user knows the .keras.
                let reason = e.description.replacingOccurrences(of: archive.weightsPath + ": ", with: "")
                throw KerasError.unrecognizedFile(path, reason: "model.weights.h5: \(reason)")
            }
            graph = built.graph
            graph.metadata.frameworkVersion = archive.metadata?["keras_version"]?.string
            graph.metadata.source.modelConfig = archive.configText
            graph.metadata.source.modelConfigIsKeras3 = true
            graph.metadata.source.fileMetadata = archive.metadataText
            graph.metadata.source.weights = try snapshot(weightsRoot, built.parameterPaths, file: path)
            graph.metadata.backend = "keras3"
            if let compile = archive.config["compile_config"], !compile.isNull {
                graph.metadata.trainingConfig = normalizedTrainingConfig(compile)
            }
        case .kerasH5Weights, .kerasV3Weights:
            guard let architecture else { throw KerasError.needsArchitecture(path, kind: kind == .kerasH5Weights ? "Keras 2" : "Keras 3") }
            let arch = try architectureConfig(architecture)
            let root = try hdf5 { try HDF5File(reading: path).root }
            let source: KerasWeightSource = kind == .kerasH5Weights ? Keras2WeightSource(group: root, file: path) : Keras3WeightSource(root: root, file: path, config: arch.config)
            let built = try build(config: arch.config, file: path, weights: source, flavour: arch.flavour)
            graph = built.graph
            graph.metadata.frameworkVersion = try hdf5 { try root.attribute("keras_version")?.stringValue } ?? arch.version
            graph.metadata.backend = try hdf5 { try root.attribute("backend")?.stringValue }
            graph.metadata.trainingConfig = arch.trainingConfig
            graph.metadata.source.modelConfig = arch.configText
            graph.metadata.source.modelConfigIsKeras3 = arch.flavour == .keras3
            graph.metadata.source.trainingConfig = arch.trainingConfigText
            graph.metadata.source.fileMetadata = arch.fileMetadata
            graph.metadata.source.weights = try snapshot(root, built.parameterPaths, file: path)
            graph.metadata.extra["architecture"] = architecture
        case .kerasJSON:
            throw KerasError.unrecognizedFile(path, reason: "a JSON architecture without weights; load the weights file with --architecture \(path)")
        }
        graph.metadata.format = kind.format ?? .none
        return graph
    }

    static func build(config: JSONValue, file: String, weights: KerasWeightSource, flavour: KerasFlavour) throws
        -> (graph: Graph, parameterPaths: [String: String]) {
        do {
            let builder = KerasGraphBuilder(file: file, flavour: flavour, weights: weights)
            let graph = try builder.build(modelConfig: config)
            return (graph, builder.parameterByDatasetPath)
        } catch let e as HDF5Error {
            throw KerasError.hdf5(e)
        }
    }

    /// The weights tree as the file holds it, for writing the model back to its own format.
    static func snapshot(_ group: HDF5Group, _ parameters: [String: String], file: String) throws -> StoredGroup {
        try hdf5 { try StoredGroup(hdf5: group, parameters: parameters) }
    }

    /// Runs HDF5 work, turning its errors into Keras errors.
    static func hdf5<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as HDF5Error { throw KerasError.hdf5(e) }
    }

    static func modelConfig(fromH5Root root: HDF5Group, file: String) throws -> JSONValue {
        guard let text = try hdf5({ try root.attribute("model_config")?.stringValue }) else {
            throw KerasError.notAKerasFile(file, reason: "model_config is not a string")
        }
        do { return try JSONValue(parsing: text) } catch {
            throw KerasError.invalidConfig(file, reason: "model_config is not valid JSON (\(error))")
        }
    }

    static func flavour(of config: JSONValue, version: String?) -> KerasFlavour {
        if let version { return version.hasPrefix("3") ? .keras3 : .keras2 }
        return config["module"] != nil ? .keras3 : .keras2
    }

    struct Architecture {
        var config: JSONValue
        var flavour: KerasFlavour
        var version: String?
        var trainingConfig: JSONValue?
        /// The texts as the file holds them, kept for writing back.
        var configText: String
        var trainingConfigText: String?
        var fileMetadata: String?
    }

    /// The model config held by an architecture file: a full `.h5`, a `.keras` or a JSON file.
    static func architectureConfig(_ path: String) throws -> Architecture {
        switch try detect(path) {
        case .kerasH5:
            let root = try hdf5 { try HDF5File(reading: path).root }
            let config = try modelConfig(fromH5Root: root, file: path)
            let version = try hdf5 { try root.attribute("keras_version")?.stringValue }
            let trainingText = try hdf5 { try root.attribute("training_config")?.stringValue }
            let training = trainingText.flatMap { try? JSONValue(parsing: $0) }
            return Architecture(config: config, flavour: flavour(of: config, version: version), version: version,
                                trainingConfig: training.map(normalizedTrainingConfig),
                                configText: try hdf5 { try root.attribute("model_config")?.stringValue } ?? "",
                                trainingConfigText: trainingText)
        case .kerasV3:
            let archive = try KerasArchive(path: path, extractWeights: false)
            defer { archive.removeTemporaryFiles() }
            return Architecture(config: archive.config, flavour: .keras3, version: archive.metadata?["keras_version"]?.string,
                                trainingConfig: archive.config["compile_config"].flatMap { $0.isNull ? nil : normalizedTrainingConfig($0) },
                                configText: archive.configText, fileMetadata: archive.metadataText)
        case .kerasJSON:
            let text: String
            do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
                throw KerasError.unrecognizedFile(path, reason: "cannot read the file as UTF-8 text")
            }
            let config: JSONValue
            do { config = try JSONValue(parsing: text) } catch {
                throw KerasError.invalidConfig(path, reason: "not valid JSON (\(error))")
            }
            let version = config["keras_version"]?.string
            return Architecture(config: config, flavour: flavour(of: config, version: version), version: version,
                                trainingConfig: config["compile_config"].flatMap { $0.isNull ? nil : normalizedTrainingConfig($0) },
                                configText: text)
        case .kerasH5Weights, .kerasV3Weights:
            throw KerasError.unrecognizedFile(path, reason: "holds weights only and cannot serve as the architecture")
        }
    }
}

/// A `.keras` archive, with its weights extracted to a temporary file for libhdf5.
struct KerasArchive {
    /// The largest config.json or metadata.json read: the biggest keras.applications config is
    /// a few MB.
    static let configLimit = 64 << 20

    let config: JSONValue
    let configText: String
    let metadata: JSONValue?
    let metadataText: String?
    let weightsPath: String
    private let temporaryDirectory: URL?

    init(path: String, extractWeights: Bool = true) throws {
        let archive: Archive
        do { archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .read) } catch {
            throw KerasError.unrecognizedFile(path, reason: "not a readable zip archive (a .keras file is a zip; this one is truncated or damaged)")
        }
        /// A member, read no further than `limit` bytes (the archive's claimed sizes may lie).
        func read(_ name: String, limit: Int) throws -> Data? {
            guard let entry = archive[name] else { return nil }
            struct TooLarge: Error {}
            var data = Data()
            do {
                _ = try archive.extract(entry, skipCRC32: false) { chunk in
                    guard data.count + chunk.count <= limit else { throw TooLarge() }
                    data.append(chunk)
                }
            } catch is TooLarge {
                throw KerasError.unrecognizedFile(path, reason: "\(name) inflates to more than \(Sizes.describe(limit)), too large for a \(name)")
            } catch {
                throw KerasError.unrecognizedFile(path, reason: "cannot extract \(name) from the archive (truncated or damaged)")
            }
            return data
        }
        guard let configData = try read("config.json", limit: Self.configLimit) else {
            throw KerasError.notAKerasFile(path, reason: "the archive has no config.json")
        }
        configText = String(decoding: configData, as: UTF8.self)
        do { config = try JSONValue(parsing: configText) } catch {
            throw KerasError.invalidConfig(path, reason: "config.json is not valid JSON (\(error))")
        }
        metadataText = try read("metadata.json", limit: Self.configLimit).map { String(decoding: $0, as: UTF8.self) }
        metadata = metadataText.flatMap { try? JSONValue(parsing: $0) }
        guard extractWeights else {
            weightsPath = ""
            temporaryDirectory = nil
            return
        }
        guard let weights = try read("model.weights.h5", limit: Sizes.budget) else {
            throw KerasError.notAKerasFile(path, reason: "the archive has no model.weights.h5")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("modelport-\(UUID().uuidString)")
        do {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let file = dir.appendingPathComponent("model.weights.h5")
            try weights.write(to: file)
            weightsPath = file.path
        } catch {
            throw KerasError.unrecognizedFile(path, reason: "cannot extract the weights to a temporary file")
        }
        temporaryDirectory = dir
    }

    func removeTemporaryFiles() {
        if let temporaryDirectory { try? FileManager.default.removeItem(at: temporaryDirectory) }
    }
}

/// Keras 2's `training_config` and Keras 3's `compile_config` in one shape:
/// `loss`, `optimizer` (class name), `learning_rate`, `optimizer_config`, `metrics` (names), `loss_weights`.
func normalizedTrainingConfig(_ raw: JSONValue) -> JSONValue {
    var out: [String: JSONValue] = [:]
    out["loss"] = raw["loss"] ?? .null
    let optimizer = raw["optimizer_config"] ?? raw["optimizer"]
    if let optimizer {
        if let name = optimizer.string {
            out["optimizer"] = .string(name)
        } else {
            let className = optimizer["class_name"]?.string.map { String($0.split(separator: ">").last ?? "") }
            out["optimizer"] = className.map(JSONValue.string) ?? .null
            out["optimizer_config"] = optimizer["config"] ?? .null
            if let lr = optimizer["config"]?["learning_rate"] { out["learning_rate"] = lr }
        }
    }
    var metrics: [JSONValue] = []
    func collect(_ v: JSONValue?) {
        guard let v else { return }
        if let s = v.string { metrics.append(.string(s)); return }
        if let name = v["config"]?["name"]?.string { metrics.append(.string(name)); return }
        if let a = v.array { a.forEach(collect) }
        if let o = v.object { o.keys.sorted().forEach { collect(o[$0]) } }
    }
    collect(raw["metrics"])
    collect(raw["weighted_metrics"])
    out["metrics"] = .array(metrics)
    if let lw = raw["loss_weights"], !lw.isNull { out["loss_weights"] = lw }
    return .object(out)
}
