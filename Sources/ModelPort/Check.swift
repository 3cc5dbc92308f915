import Training
import DataIO
import Diagnostics
import Engine
import Foundation
import ModelIR

/// Where `check` (and later `finetune`) takes labelled data from.
public enum LabelledData: Sendable {
    /// `--inputs X.npy --labels y.npy`
    case arrays(inputs: String, labels: String)
    /// `--data DIR`: one sub-folder per class, classes in alphabetical order (as Keras'
    /// `image_dataset_from_directory`).
    case folder(String)
}

extension Model {
    /// Opens labelled data as a batch source; labels must be 0/1 (a binary classifier's).
    public func labelledSource(_ data: LabelledData) throws -> (source: SampleSource, description: String, classes: [String]) {
        switch data {
        case let .arrays(inputsPath, labelsPath):
            let inputs = try prepareInputs(try readInputArrays(inputsPath), source: inputsPath)
            let labelTensor: Tensor
            do { labelTensor = try NumpyFormat.read(labelsPath) } catch let e as DataIOError { throw ModelPortError(e.description) }
            guard labelTensor.shape.count == 1 || (labelTensor.shape.count == 2 && labelTensor.shape[1] == 1) else {
                throw ModelPortError("\(labelsPath): labels should be one 0/1 value per sample (shape (N,) or (N, 1)), got shape \(labelTensor.shape)")
            }
            let labels = labelTensor.floats()
            if let bad = labels.firstIndex(where: { $0 != 0 && $0 != 1 }) {
                throw ModelPortError("\(labelsPath): labels must be 0 or 1 for a binary classifier; sample \(bad) is \(labels[bad])")
            }
            for (name, t) in inputs.sorted(by: { $0.key < $1.key }) {
                let perSample = max(1, t.shape.dropFirst().reduce(1, *))
                if let bad = t.data.firstIndex(where: { !$0.isFinite }) {
                    let count = t.data.filter { !$0.isFinite }.count
                    throw ModelPortError("\(inputsPath): sample \(bad / perSample) of '\(name)' holds NaN or infinite values (\(count) in all); "
                                         + "check needs finite inputs")
                }
            }
            let n = inputs.values.first?.shape.first ?? 0
            guard labels.count == n else {
                throw ModelPortError("\(labelsPath): \(labels.count) labels for \(n) input samples in \(inputsPath)")
            }
            return (ArraySource(inputs: inputs, labels: labels), "\(inputsPath) + \(labelsPath)", ["0", "1"])
        case let .folder(dir):
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
                throw ModelPortError("\(dir): no such folder")
            }
            let classes = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { name in
                var d: ObjCBool = false
                return !name.hasPrefix(".") && FileManager.default.fileExists(atPath: (dir as NSString).appendingPathComponent(name), isDirectory: &d) && d.boolValue
            }.sorted()
            guard classes.count == 2 else {
                throw ModelPortError("\(dir): a binary classifier needs exactly two class folders (one per class, alphabetical order = label 0, 1); found \(classes.count)\(classes.isEmpty ? "" : ": " + classes.joined(separator: ", "))")
            }
            var files: [(String, Float)] = []
            for (label, name) in classes.enumerated() {
                let folder = (dir as NSString).appendingPathComponent(name)
                let images: [String]
                do { images = try ImageFile.list(folder: folder) } catch let e as DataIOError { throw ModelPortError(e.description) }
                files += images.map { ($0, Float(label)) }
            }
            let model = self
            let source = LazySource(count: files.count) { range in
                let slice = Array(files[range])
                return (try model.imageInputs(slice.map(\.0)), slice.map(\.1))
            }
            return (source, "\(dir) (\(classes[0]) = 0: \(files.filter { $0.1 == 0 }.count) images, \(classes[1]) = 1: \(files.filter { $0.1 == 1 }.count) images)", classes)
        }
    }

    /// Diagnoses the model: structural checks, and with data the score, activation and
    /// BatchNormalization checks.
    public func check(data: LabelledData?, batchSize: Int = 32, threads: Int? = nil, recalibrate: Bool = true, loss: TrainingLoss? = nil,
                      progress: ((String, Int, Int) -> Void)? = nil) throws -> (report: CheckReport, dataDescription: String?) {
        var options = CheckOptions()
        options.batchSize = batchSize
        options.threads = threads ?? ProcessInfo.processInfo.activeProcessorCount
        options.expectsRawPixels = expectsRawPixels
        options.recalibrate = recalibrate
        options.loss = loss
        if !dimensions.isEmpty {
            let model = self
            options.remake = { shapes in try model.specialized(for: shapes).graph }
        }
        let opened = try data.map { try labelledSource($0) }
        do {
            return (try ModelCheck.run(graph, source: opened?.source, options: options, progress: progress), opened?.description)
        } catch let e as ModelPortError {
            throw e
        } catch {
            throw ModelPortError("\(path): \(error)")
        }
    }
}
