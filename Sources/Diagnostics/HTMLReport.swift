import Foundation

/// The `--report` page: one self-contained HTML file with inline SVG charts (no scripts, no
/// network): findings, per-class score histograms, ROC curve, dead units, BatchNormalization
/// statistics.
public enum HTMLReport {
    public static func render(_ r: CheckReport, model: String, data: String?) -> String {
        let errors = r.findings.filter { $0.severity == .error }.count, warnings = r.findings.filter { $0.severity == .warning }.count
        var body = """
        <h1>modelport check</h1>
        <p class="meta"><b>Model</b> \(escape(model)) — head \(escape(r.head))<br><b>Data</b> \(escape(data ?? "none")) — \(r.samples) samples</p>
        <p class="verdict \(errors > 0 ? "bad" : (warnings > 0 ? "warn" : "ok"))">\(errors) error\(errors == 1 ? "" : "s"), \(warnings) warning\(warnings == 1 ? "" : "s")</p>
        <h2>Findings</h2>
        <table><tr><th>Severity</th><th>Id</th><th>Layer</th><th>What</th><th>What to do</th></tr>
        """
        for f in r.findings {
            let module = f.module.map { "<br><small>\(escape($0))</small>" } ?? ""
            body += "<tr class=\"\(f.severity.rawValue)\"><td>\(f.severity.rawValue)</td><td><code>\(f.id)</code></td>"
                + "<td>\(escape(f.layer ?? ""))\(module)</td><td>\(escape(f.message))</td><td>\(escape(f.suggestion))</td></tr>\n"
        }
        body += "</table>\n"
        if r.samples > 0 {
            body += "<h2>Scores by class</h2><p>A healthy classifier separates the two colours; a collapsed one stacks them in one narrow bar (note the axis range).</p>\n"
            body += histogram(r.scoresByClass, threshold: r.bestThreshold)
            body += "<h2>ROC curve</h2>\n" + rocCurve(r.roc, auc: r.metrics["auc"] ?? .nan, scores: r.scoresByClass, threshold: r.bestThreshold)
            body += metricsTable(r.metrics)
        }
        if !r.deadUnits.isEmpty { body += "<h2>Dead ReLU channels per layer</h2>\n" + deadUnitBars(r.deadUnits, modules: r.modules) }
        if !r.batchNorm.isEmpty {
            body += "<h2>BatchNormalization: data statistics against moving statistics</h2><p>Each dot is a channel: moving mean (x) against the mean of the data reaching the layer (y). On the diagonal the stored statistics fit the data; far from it, inference normalises with the wrong numbers.</p>\n<div class=\"row\">"
            for b in r.batchNorm { body += bnScatter(r.modules[b.layer] ?? b.layer, moving: b.movingMean, data: b.batchMean) }
            body += "</div>\n"
        }
        if !r.skipped.isEmpty { body += "<h2>Skipped</h2><ul>" + r.skipped.map { "<li>\(escape($0))</li>" }.joined() + "</ul>" }
        return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>modelport check — \(escape(model))</title>
        <style>
        body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:24px auto;max-width:1060px;color:#1d1d1f;padding:0 16px}
        h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
        .meta{color:#555;margin:4px 0}.verdict{display:inline-block;padding:4px 12px;border-radius:12px;font-weight:600}
        .verdict.bad{background:#fde2e1;color:#a1120a}.verdict.warn{background:#fff2cc;color:#7a5300}.verdict.ok{background:#dff5e1;color:#16692a}
        table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #e5e5e5;padding:6px 8px;text-align:left;vertical-align:top}
        th{background:#f6f6f6}tr.error td:first-child{color:#a1120a;font-weight:600}tr.warning td:first-child{color:#7a5300;font-weight:600}tr.info td:first-child{color:#555}
        code{font-size:12px}.row{display:flex;flex-wrap:wrap;gap:12px}svg text{font:11px system-ui,sans-serif;fill:#333}
        table.metrics{width:auto}table.metrics td{padding:3px 12px 3px 0;border:none}
        </style></head><body>
        \(body)
        </body></html>
        """
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func label(_ v: Double) -> String {
        if abs(v) < 1e-3 && v != 0 { return String(format: "%.2e", v) }
        return String(format: abs(v) < 0.1 ? "%.5f" : "%.4f", v)
    }

    static let colors = ["#2f6fdb", "#e0702b"]

    static func histogram(_ classes: [[Float]], threshold: Double?) -> String {
        let all = classes.flatMap { $0 }
        guard let lo = all.min(), let hi = all.max() else { return "" }
        let span = Double(hi - lo) > 1e-12 ? Double(hi - lo) : max(1e-6, abs(Double(lo)) * 1e-6)
        let bins = 40, width = 900.0, height = 220.0, left = 50.0, bottom = 30.0
        var counts = [[Int]](repeating: [Int](repeating: 0, count: bins), count: 2)
        for (c, values) in classes.enumerated() where c < 2 {
            for v in values { counts[c][min(bins - 1, Int((Double(v - lo) / span) * Double(bins)))] += 1 }
        }
        let top = max(1, counts.flatMap { $0 }.max() ?? 1)
        let barWidth = (width - left - 10) / Double(bins)
        var svg = "<svg width=\"\(Int(width))\" height=\"\(Int(height + bottom + 20))\" role=\"img\" aria-label=\"score histogram\">"
        for c in 0..<2 {
            for b in 0..<bins where counts[c][b] > 0 {
                let h = Double(counts[c][b]) / Double(top) * (height - 10)
                let x = left + Double(b) * barWidth + (c == 0 ? 0 : barWidth / 2)
                svg += "<rect x=\"\(fmt(x, 1))\" y=\"\(fmt(height - h, 1))\" width=\"\(fmt(barWidth / 2 - 0.5, 1))\" height=\"\(fmt(h, 1))\" fill=\"\(colors[c])\" opacity=\"0.85\"/>"
            }
        }
        svg += "<line x1=\"\(left)\" y1=\"\(height)\" x2=\"\(width - 10)\" y2=\"\(height)\" stroke=\"#333\"/>"
        // Enough digits to tell the tick labels apart, however narrow the range.
        let digits = max(4, Int((-log10(span / 4)).rounded(.up)) + 1)
        for t in 0...4 {
            let v = Double(lo) + span * Double(t) / 4
            let x = left + (width - left - 10) * Double(t) / 4
            svg += "<text x=\"\(fmt(x, 1))\" y=\"\(fmt(height + 16, 1))\" text-anchor=\"\(t == 4 ? "end" : (t == 0 ? "start" : "middle"))\">\(String(format: "%.\(digits)f", v))</text>"
        }
        svg += "<text x=\"\(left - 8)\" y=\"12\" text-anchor=\"end\">\(top)</text><text x=\"\(left - 8)\" y=\"\(height)\" text-anchor=\"end\">0</text>"
        if let t = threshold, t >= Double(lo), t <= Double(lo) + span {
            let x = left + (t - Double(lo)) / span * (width - left - 10)
            svg += "<line x1=\"\(fmt(x, 1))\" y1=\"0\" x2=\"\(fmt(x, 1))\" y2=\"\(height)\" stroke=\"#111\" stroke-dasharray=\"4 3\"/><text x=\"\(fmt(x + 4, 1))\" y=\"12\">best threshold \(label(t))</text>"
        }
        svg += "<text x=\"\(left)\" y=\"\(Int(height + bottom + 14))\"><tspan fill=\"\(colors[0])\">■</tspan> label 0 (\(classes[0].count))   <tspan fill=\"\(colors[1])\">■</tspan> label 1 (\(classes.count > 1 ? classes[1].count : 0))   score range \(String(format: "%.\(digits)f", Double(lo)))–\(String(format: "%.\(digits)f", Double(hi))) (width \(label(Double(hi - lo))))</text>"
        return svg + "</svg>\n"
    }

    static func rocCurve(_ roc: [(fpr: Double, tpr: Double)], auc: Double, scores: [[Float]], threshold: Double?) -> String {
        let size = 300.0, pad = 36.0
        func px(_ v: Double) -> Double { pad + v * size }
        func py(_ v: Double) -> Double { pad + (1 - v) * size }
        var svg = "<svg width=\"\(Int(size + 2 * pad))\" height=\"\(Int(size + 2 * pad))\" role=\"img\" aria-label=\"ROC curve\">"
        svg += "<rect x=\"\(pad)\" y=\"\(pad)\" width=\"\(size)\" height=\"\(size)\" fill=\"none\" stroke=\"#999\"/>"
        svg += "<line x1=\"\(px(0))\" y1=\"\(py(0))\" x2=\"\(px(1))\" y2=\"\(py(1))\" stroke=\"#bbb\" stroke-dasharray=\"4 3\"/>"
        let points = roc.map { "\(fmt(px($0.fpr), 1)),\(fmt(py($0.tpr), 1))" }.joined(separator: " ")
        svg += "<polyline points=\"\(points)\" fill=\"none\" stroke=\"#2f6fdb\" stroke-width=\"2\"/>"
        if let t = threshold, scores.count == 2, !scores[0].isEmpty, !scores[1].isEmpty {
            let fpr = Double(scores[0].filter { Double($0) >= t }.count) / Double(scores[0].count)
            let tpr = Double(scores[1].filter { Double($0) >= t }.count) / Double(scores[1].count)
            let anchor = fpr > 0.6 ? "end" : "start"
            let dx = fpr > 0.6 ? -8.0 : 8.0
            svg += "<circle cx=\"\(fmt(px(fpr), 1))\" cy=\"\(fmt(py(tpr), 1))\" r=\"5\" fill=\"#e0702b\"/><text x=\"\(fmt(px(fpr) + dx, 1))\" y=\"\(fmt(py(tpr) + 16, 1))\" text-anchor=\"\(anchor)\">threshold \(label(t)) (TPR \(String(format: "%.2f", tpr)), FPR \(String(format: "%.2f", fpr)))</text>"
        }
        svg += "<text x=\"\(px(0.5))\" y=\"\(size + pad + 24)\" text-anchor=\"middle\">false-positive rate</text>"
        svg += "<text x=\"12\" y=\"\(py(0.5))\" transform=\"rotate(-90 12 \(py(0.5)))\" text-anchor=\"middle\">true-positive rate</text>"
        svg += "<text x=\"\(px(0.55))\" y=\"\(py(0.1))\">AUC \(auc.isNaN ? "n/a" : String(format: "%.4f", auc))</text>"
        return svg + "</svg>\n"
    }

    static func metricsTable(_ m: [String: Double]) -> String {
        let order = ["auc", "accuracy_at_0_5", "best_threshold", "accuracy_at_best_threshold", "balanced_accuracy_at_best_threshold",
                     "score_min", "score_max", "class_0_mean", "class_1_mean", "recalibrated_accuracy_at_0_5", "recalibrated_auc"]
        let rows = order.compactMap { k in m[k].map { "<tr><td>\(k.replacingOccurrences(of: "_", with: " "))</td><td>\(label($0))</td></tr>" } }
        return "<table class=\"metrics\">" + rows.joined() + "</table>\n"
    }

    static func deadUnitBars(_ layers: [(layer: String, dead: Int, total: Int)], modules: [String: String]) -> String {
        let rowHeight = 24.0, labelWidth = 220.0, barWidth = 560.0
        var svg = "<svg width=\"\(Int(labelWidth + barWidth + 120))\" height=\"\(Int(Double(layers.count) * rowHeight + 10))\" role=\"img\" aria-label=\"dead units\">"
        for (i, l) in layers.enumerated() {
            let y = Double(i) * rowHeight + 4
            let f = l.total == 0 ? 0 : Double(l.dead) / Double(l.total)
            svg += "<text x=\"\(labelWidth - 8)\" y=\"\(fmt(y + 14, 1))\" text-anchor=\"end\">\(escape(modules[l.layer] ?? l.layer))</text>"
            svg += "<rect x=\"\(labelWidth)\" y=\"\(fmt(y, 1))\" width=\"\(barWidth)\" height=\"16\" fill=\"#eee\"/>"
            svg += "<rect x=\"\(labelWidth)\" y=\"\(fmt(y, 1))\" width=\"\(fmt(barWidth * f, 1))\" height=\"16\" fill=\"\(f >= 0.5 ? "#c0392b" : "#e0702b")\"/>"
            svg += "<text x=\"\(labelWidth + barWidth + 8)\" y=\"\(fmt(y + 13, 1))\">\(l.dead)/\(l.total) (\(percent(l.dead, l.total)))</text>"
        }
        return svg + "</svg>\n"
    }

    static func bnScatter(_ layer: String, moving: [Float], data: [Float]) -> String {
        let size = 200.0, pad = 34.0
        let all = moving + data
        guard var lo = all.min(), var hi = all.max() else { return "" }
        if hi - lo < 1e-9 { lo -= 1; hi += 1 }
        func s(_ v: Float, _ flip: Bool) -> Double {
            let t = Double(v - lo) / Double(hi - lo)
            return flip ? pad + (1 - t) * size : pad + t * size
        }
        var svg = "<svg width=\"\(Int(size + 2 * pad))\" height=\"\(Int(size + 2 * pad + 10))\" role=\"img\" aria-label=\"\(escape(layer))\">"
        svg += "<rect x=\"\(pad)\" y=\"\(pad)\" width=\"\(size)\" height=\"\(size)\" fill=\"none\" stroke=\"#999\"/>"
        svg += "<line x1=\"\(pad)\" y1=\"\(pad + size)\" x2=\"\(pad + size)\" y2=\"\(pad)\" stroke=\"#bbb\" stroke-dasharray=\"4 3\"/>"
        for (m, d) in zip(moving, data) { svg += "<circle cx=\"\(fmt(s(m, false), 1))\" cy=\"\(fmt(s(d, true), 1))\" r=\"2.5\" fill=\"#2f6fdb\" opacity=\"0.7\"/>" }
        svg += "<text x=\"\(pad)\" y=\"16\">\(escape(layer))</text>"
        svg += "<text x=\"\(pad)\" y=\"\(size + pad + 16)\">\(label(Double(lo)))</text><text x=\"\(pad + size)\" y=\"\(size + pad + 16)\" text-anchor=\"end\">\(label(Double(hi)))</text>"
        svg += "<text x=\"\(pad + size / 2)\" y=\"\(size + pad + 30)\" text-anchor=\"middle\">moving mean → data mean ↑</text>"
        return svg + "</svg>\n"
    }
}
