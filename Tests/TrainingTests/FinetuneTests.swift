import DataIO
import Engine
import Foundation
import ModelIR
import ModelPort
import Testing
import Training
@testable import Engine

/// `Model.finetuned`: the seed user's stories end to end on the committed fixtures.
@Suite("finetune: training, repair and calibration end to end")
struct FinetuneTests {
    static func check(_ name: String) -> String { TrainingFixtures.root.appendingPathComponent("check/\(name)").path }

    @Test("the seed model on a folder of PNG images: validation split, class weights, then recalibration lift validation AUC and accuracy")
    func seedOnImages() throws {
        let model = try Model.load(TrainingFixtures.model("seed"))
        var settings = FinetuneSettings()
        settings.epochs = 4; settings.batchSize = 16; settings.validationSplit = 0.25; settings.balancedClassWeights = true
        settings.seed = 1; settings.recalibrateBatchNormalization = true; settings.threads = 1
        let r = try model.finetuned(data: .folder(Self.check("data")), settings: settings)
        #expect(r.trainingSamples == 48 && r.validationSamples == 16)
        #expect(r.history.count == 4 && r.history.allSatisfy { $0.loss.isFinite })
        let before = try #require(r.before["validation"]), after = try #require(r.after["validation"])
        #expect(before.auc < 0.8, "the seed model does not know these images: \(before)")
        #expect(after.auc >= 0.95 && after.accuracy >= 0.9, "after: \(after)")
        #expect(r.recalibrated.count == 3)
    }

    @Test("Platt calibration of a model whose scores all lie below 0.5: accuracy at 0.5 from 0.5 to above 0.85, folded into the saved model")
    func calibration() throws {
        let model = try Model.load(Self.check("bn_lag.h5"))
        var settings = FinetuneSettings()
        settings.calibrate = true; settings.threads = 1
        let data = LabelledData.arrays(inputs: Self.check("data_x.npy"), labels: Self.check("data_y.npy"))
        let r = try model.finetuned(data: data, settings: settings)
        let c = try #require(r.calibration)
        #expect(abs(c.before.accuracyAtHalf - 0.5) < 1e-9)
        #expect(c.after.accuracyAtHalf >= 0.85)
        #expect(c.after.brier < c.before.brier && c.after.expectedCalibrationError < c.before.expectedCalibrationError)
        // The written model's own scores give the calibrated accuracy at 0.5.
        let after = try #require(r.after["training"])
        #expect(abs(after.accuracy - c.after.accuracyAtHalf) < 1e-9)
        #expect(abs(after.auc - (r.before["training"]?.auc ?? 0)) < 1e-6, "a monotone map keeps the AUC")
    }

    @Test("Platt scaling recovers a known logistic map")
    func plattRecovers() {
        var g = SeededGenerator(seed: 5)
        var logits: [Float] = [], labels: [Float] = []
        for _ in 0..<4000 {
            let s = Float(g.next() >> 40) / Float(1 << 24) * 8 - 4
            let p = 1 / (1 + exp(-(2 * s - 1)))
            logits.append(s)
            labels.append(Float(g.next() >> 40) / Float(1 << 24) < p ? 1 : 0)
        }
        let platt = PlattCalibration(logits: logits, labels: labels)
        #expect(abs(platt.a - 2) < 0.2 && abs(platt.b + 1) < 0.2, "a \(platt.a), b \(platt.b)")
    }

    @Test("an ONNX model from PyTorch trains (its BatchNormalization nodes in training mode) and is written back as ONNX")
    func onnx() throws {
        let model = try Model.load(Self.check("onnx/torch_collapsed.onnx"))
        var settings = FinetuneSettings()
        settings.epochs = 2; settings.batchSize = 16; settings.threads = 1; settings.recalibrateBatchNormalization = true
        let data = LabelledData.arrays(inputs: Self.check("onnx/data_x_nchw.npy"), labels: Self.check("data_y.npy"))
        let r = try model.finetuned(data: data, settings: settings)
        #expect(r.history.count == 2)
        #expect(r.loss.hasPrefix("binary_crossentropy (from logits)"), "a raw-logit head: \(r.loss)")
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("modelport-finetuned-\(getpid()).onnx").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        try r.model.save(to: out, format: .onnx)
        let reloaded = try Model.load(out)
        let changed = reloaded.graph.parameters.filter { p in model.graph.parameters.first { $0.name == p.name }?.tensor != p.tensor }
        #expect(changed.count >= 10, "the initializers are updated in the written ONNX")
        #expect((r.after["training"]?.auc ?? 0) >= 0.95)
    }

    @Test("frozen layers keep their weights and their BatchNormalization in inference mode; --trainable-from freezes what comes before")
    func freezing() throws {
        let model = try Model.load(Self.check("collapsed.h5"))
        var settings = FinetuneSettings()
        settings.epochs = 1; settings.batchSize = 16; settings.threads = 1; settings.trainableFrom = "conv_3"
        let data = LabelledData.arrays(inputs: Self.check("data_x.npy"), labels: Self.check("data_y.npy"))
        let r = try model.finetuned(data: data, settings: settings)
        #expect(Set(r.frozenLayers).isSuperset(of: ["conv_1", "bn_1", "conv_2", "bn_2"]))
        #expect(!r.changedLayers.contains("conv_1") && !r.changedLayers.contains("bn_1") && !r.changedLayers.contains("bn_2"))
        #expect(r.changedLayers.contains("conv_3") && r.changedLayers.contains("output"))
    }
}

@Suite("fit callbacks")
struct CallbackTests {
    @Test("early stopping restores the weights of the best epoch; ReduceLROnPlateau divides the learning rate by 10")
    func earlyStopping() throws {
        let (trainer, model) = try TrainingFixtures.trainer("mlp", optimizer: Optimizer(.sgd, learningRate: 3))
        let data = TrainingFixtures.bind(try TrainingFixtures.samples("mlp.fit.npz"), to: model)
        let (train, validation) = data.split(validation: 0.25)
        var snapshots: [Int: [String: HostTensor]] = [:]
        let r = try trainer.fit(train, validation: validation, options: FitOptions(epochs: 30, batchSize: 16, shuffle: true, seed: 2,
                                                                                   earlyStoppingPatience: 2),
                                epochEnd: { snapshots[$0.epoch] = trainer.session.parameters })
        let kept = try #require(r.keptEpoch)
        #expect(r.stopReason?.contains("early stopping") == true, "\(r.history.map { $0.validationLoss ?? .nan })")
        let best = r.history.min { ($0.validationLoss ?? .infinity) < ($1.validationLoss ?? .infinity) }
        #expect(best?.epoch == kept)
        #expect(trainer.session.parameters == snapshots[kept])

        let (plateau, _) = try TrainingFixtures.trainer("mlp", optimizer: Optimizer(.sgd, learningRate: 0))
        let p = try plateau.fit(train, validation: nil, options: FitOptions(epochs: 11, batchSize: 16, reduceLearningRateOnPlateau: true))
        #expect(p.history.count == 11)
        #expect(abs(plateau.optimizer.learningRate) < 1e-12, "lr 0 stays 0")
        let (reducing, _) = try TrainingFixtures.trainer("mlp", optimizer: Optimizer(.sgd, learningRate: 1e-9))
        _ = try reducing.fit(train, validation: nil, options: FitOptions(epochs: 12, batchSize: 16, shuffle: false, reduceLearningRateOnPlateau: true))
        #expect(abs(reducing.optimizer.learningRate - 1e-10) < 1e-14, "a flat loss for 10 epochs: \(reducing.optimizer.learningRate)")
    }
}

@Suite("augmentation in training")
struct AugmentationTrainingTests {
    @Test("RandomFlip/Rotation/Zoom/Translation/Contrast/Brightness change the images in training only, the same way for the same seed")
    func active() throws {
        let path = TrainingFixtures.root.appendingPathComponent("transfer/augment.h5").path
        let model = try Model.load(path)
        let x = try NumpyFormat.read(TrainingFixtures.root.appendingPathComponent("transfer/augment.input.npy").path)
        let input = try #require(model.graph.inputs.first?.name)
        let batch = [input: HostTensor(x)]
        func output(seed: UInt64, training: Bool) throws -> [Float] {
            let session = try model.trainingSession(threads: 1, seed: seed)
            let out = try session.forward(batch, training: training)
            return try #require(out[model.graph.outputs[0]]).data
        }
        let inference = try InferenceSession(graph: model.graph).run(batch)[model.graph.outputs[0]]?.data ?? []
        let plain = try output(seed: 1, training: false)
        #expect(zip(plain, inference).allSatisfy { abs($0 - $1) < 1e-5 }, "inference mode is the identity for augmentation")
        let a = try output(seed: 1, training: true), b = try output(seed: 1, training: true), c = try output(seed: 2, training: true)
        #expect(a == b)
        #expect(a != c)
        #expect(a != plain)
        let session = try model.trainingSession(threads: 1, seed: 1)
        #expect(session.inactiveAugmentations.isEmpty || session.inactiveAugmentations.allSatisfy { $0.hasPrefix("RandomCrop") })
    }

    @Test("a rotation by a whole turn and a zoom of 1 leave the image as it was (reflect fill, bilinear)")
    func identityTransforms() {
        var g = SeededGenerator(seed: 1)
        let x = HostTensor(shape: [1, 5, 7, 2], data: (0..<70).map { Float($0) })
        let turn = Augmentation(kind: .rotation, factors: [1, 1], seed: nil)
        let rotated = AugmentationKernels.apply(turn, mode: nil, valueRange: (0, 255), x, generator: &g) ?? []
        #expect(zip(rotated, x.data).allSatisfy { abs($0 - $1) < 1e-3 }, "\(rotated.prefix(8))")
        let zoom = Augmentation(kind: .zoom, factors: [0, 0], seed: nil)
        #expect(AugmentationKernels.apply(zoom, mode: nil, valueRange: (0, 255), x, generator: &g) == x.data)
        #expect(AugmentationKernels.reflect(-1, 5) == 0 && AugmentationKernels.reflect(5, 5) == 4 && AugmentationKernels.reflect(-2, 5) == 1)
    }
}
