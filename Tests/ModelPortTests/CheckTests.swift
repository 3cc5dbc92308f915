import Training
import Diagnostics
import Foundation
import ModelPort
import Testing

/// `check` on models made with the real Keras to show each failure (Fixtures/make_check_fixtures.py).
@Suite("check finds what is wrong with a binary classifier")
struct CheckTests {
    static func checkFixture(_ name: String) -> String { Fixtures.root.appendingPathComponent("check/\(name)").path }
    static let arrays = LabelledData.arrays(inputs: checkFixture("data_x.npy"), labels: checkFixture("data_y.npy"))

    func run(_ model: String, data: LabelledData? = CheckTests.arrays) throws -> CheckReport {
        try Model.load(Self.checkFixture(model)).check(data: data, batchSize: 16, threads: 1).report
    }

    func ids(_ r: CheckReport, _ severity: Severity) -> Set<String> { Set(r.findings.filter { $0.severity == severity }.map(\.id)) }

    @Test("the collapsed model: scores equal to the 4th decimal, dead ReLUs, BN statistics to blame")
    func collapsed() throws {
        let r = try run("collapsed.h5")
        #expect(ids(r, .error).contains("collapsed-output"))
        #expect(ids(r, .error).contains("batchnorm-statistics"))
        #expect(ids(r, .warning).contains("dead-units"))
        let spread = try #require(r.metrics["score_max"]) - (r.metrics["score_min"] ?? 0)
        #expect(spread < 1e-3)
        #expect(abs((r.metrics["class_1_mean"] ?? 0) - (r.metrics["class_0_mean"] ?? 1)) < 1e-3)
        // Recomputing the BatchNormalization statistics repairs the ranking.
        #expect((r.metrics["recalibrated_auc"] ?? 0) >= 0.95)
        #expect((r.metrics["auc"] ?? 1) < 0.7)
        #expect((r.metrics["dead_unit_fraction"] ?? 0) > 0.5)
        #expect(r.findings.first?.severity == .error)
    }

    @Test("the model that is good in training and bad in inference")
    func batchNormLag() throws {
        let r = try run("bn_lag.h5")
        let finding = try #require(r.findings.first { $0.id == "batchnorm-statistics" })
        #expect(finding.severity == .error)
        #expect(!ids(r, .error).contains("collapsed-output"))
        #expect((r.metrics["accuracy_at_0_5"] ?? 1) <= 0.6)
        #expect((r.metrics["recalibrated_accuracy_at_0_5"] ?? 0) >= 0.85)
        // The threshold finding offers a data-chosen cut instead of 0.5 or the mean.
        let threshold = try #require(r.findings.first { $0.id == "threshold" })
        #expect(threshold.severity == .info)
        #expect((r.metrics["accuracy_at_best_threshold"] ?? 0) > (r.metrics["accuracy_at_0_5"] ?? 1))
    }

    @Test("a healthy model gets no error finding")
    func healthy() throws {
        let r = try run("healthy.h5")
        #expect(ids(r, .error).isEmpty, "\(r.findings.filter { $0.severity == .error }.map(\.message))")
        #expect((r.metrics["auc"] ?? 0) >= 0.95)
        #expect((r.metrics["accuracy_at_0_5"] ?? 0) >= 0.9)
    }

    @Test("Dense(2, softmax) + binary_crossentropy is a head/loss mismatch, with or without data")
    func softmaxWithBinaryCrossEntropy() throws {
        for data in [nil, CheckTests.arrays] {
            let r = try run("softmax_bce.h5", data: data)
            let f = try #require(r.findings.first { $0.id == "head-loss-mismatch" })
            #expect(f.severity == .error)
            #expect(f.message.contains("binary_crossentropy"))
        }
    }

    @Test("0–255 pixels: fine for a model trained on them, flagged for one trained on [0, 1]")
    func inputRange() throws {
        let raw255 = LabelledData.arrays(inputs: Self.checkFixture("data_x_255.npy"), labels: Self.checkFixture("data_y.npy"))
        let healthyOn255 = try run("healthy.h5", data: raw255)
        let f = try #require(healthyOn255.findings.first { $0.id == "input-range" })
        #expect(f.severity == .warning)
        #expect(f.message.contains("outside [0, 1]"))
        let rawOnRaw = try run("raw_pixels.h5", data: raw255)
        #expect(rawOnRaw.findings.first { $0.id == "input-range" }?.severity == .info)
        let rawOnUnit = try run("raw_pixels.h5")
        #expect(rawOnUnit.findings.contains { $0.id == "input-range" && $0.severity == .warning })
    }

    @Test("a model without a sigmoid/softmax head: structural checks run, data checks are skipped and said so")
    func noHead() throws {
        let r = try run("no_head.h5")
        #expect(!r.skipped.isEmpty)
        #expect(r.samples == 0)
        #expect(r.findings.contains { $0.id == "threshold" && $0.message.contains("skipped") })
    }

    @Test("--data reads one sub-folder per class and gives the same numbers as the arrays")
    func folderEqualsArrays() throws {
        let fromFolder = try run("collapsed.h5", data: .folder(Self.checkFixture("data")))
        let fromArrays = try run("collapsed.h5")
        #expect(fromFolder.samples == fromArrays.samples)
        for key in ["score_min", "score_max", "auc", "accuracy_at_0_5"] {
            #expect(abs((fromFolder.metrics[key] ?? .nan) - (fromArrays.metrics[key] ?? .nan)) < 1e-5, "\(key)")
        }
    }

    @Test("the HTML report is self-contained: inline SVG, no scripts, no network")
    func htmlReport() throws {
        let r = try run("collapsed.h5")
        let html = HTMLReport.render(r, model: "collapsed.h5", data: "data")
        #expect(html.contains("<svg"))
        #expect(html.contains("collapsed-output"))
        #expect(!html.lowercased().contains("<script"))
        #expect(!html.contains("http://") && !html.contains("https://"))
    }

    @Test func classifierMetricsMatchTheirDefinitions() {
        // Perfect ranking, ties, and the Youden threshold.
        let m = ClassifierMetrics(scores: [0.1, 0.4, 0.35, 0.8], labels: [0, 0, 1, 1])
        #expect(abs(m.auc - 0.75) < 1e-12)
        #expect(m.accuracyAtHalf == 0.75)
        #expect(ClassifierMetrics(scores: [0.2, 0.3, 0.6, 0.9], labels: [0, 0, 1, 1]).auc == 1)
        #expect(ClassifierMetrics(scores: [0.5, 0.5], labels: [0, 1]).auc == 0.5)
    }
}
