import Foundation

/// Why a size read from a file cannot be used: it overflows, is negative, or needs more memory
/// than the budget allows.
public struct SizeError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Element and byte counts of shapes that come from files, computed with overflow checks, and
/// the memory budget every tensor must fit in. One place for all of them, so a hostile shape is
/// an error line, never a trap or a runaway allocation.
public enum Sizes {
    /// The most bytes one tensor may take: `MODELPORT_MAX_MEMORY` (bytes, or with a K/M/G suffix)
    /// when set, else half of this machine's physical memory. `--max-memory` sets it too.
    nonisolated(unsafe) public static var budget: Int = {
        if let text = ProcessInfo.processInfo.environment["MODELPORT_MAX_MEMORY"], let bytes = parseBytes(text) { return bytes }
        return Int(min(ProcessInfo.processInfo.physicalMemory / 2, UInt64(Int.max)))
    }()

    /// `"512M"`, `"2G"`, `"1000000"` → bytes; nil when it is not a positive size.
    public static func parseBytes(_ text: String) -> Int? {
        let t = text.trimmingCharacters(in: .whitespaces).uppercased()
        let units: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
        var digits = Substring(t), scale = 1
        if let last = t.last, let u = units[last] { digits = t.dropLast(); scale = u }
        if digits.hasSuffix("I") || digits.hasSuffix("B") { return nil }
        guard let n = Int(digits), n > 0 else { return nil }
        let (bytes, overflow) = n.multipliedReportingOverflow(by: scale)
        return overflow ? nil : bytes
    }

    /// A human size: `12.0 GB`.
    public static func describe(_ bytes: Int) -> String {
        let b = Double(bytes)
        if bytes >= 1 << 30 { return String(format: "%.1f GB", b / Double(1 << 30)) }
        if bytes >= 1 << 20 { return String(format: "%.1f MB", b / Double(1 << 20)) }
        return "\(bytes) bytes"
    }

    /// The product of `shape`'s dimensions; throws when one is negative or the product overflows.
    public static func elementCount(_ shape: [Int]) throws -> Int {
        var count = 1
        for d in shape {
            guard d >= 0 else { throw SizeError("the shape \(shape) has a negative dimension") }
            let (p, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow else { throw SizeError("the shape \(shape) is too large (its element count overflows)") }
            count = p
        }
        return count
    }

    /// The bytes of a `shape` of `elementSize`-byte elements; throws when it overflows or passes
    /// the memory budget.
    public static func byteCount(_ shape: [Int], elementSize: Int) throws -> Int {
        let (bytes, overflow) = try elementCount(shape).multipliedReportingOverflow(by: elementSize)
        guard !overflow else { throw SizeError("the shape \(shape) is too large (its byte count overflows)") }
        try checkBudget(bytes, what: "a tensor of shape \(shape)")
        return bytes
    }

    /// Throws when `bytes` passes the memory budget.
    public static func checkBudget(_ bytes: Int, what: String) throws {
        guard bytes <= budget else {
            throw SizeError("\(what) needs \(describe(bytes)), more than the memory budget of \(describe(budget)) (--max-memory)")
        }
    }

    /// Checks that a shape inferred for a value fits in memory (unknown dimensions count as 1,
    /// as a batch of one would): float32, as the engine computes.
    public static func checkInferred(_ shape: Shape) throws {
        _ = try byteCount(shape.dims.map { $0 ?? 1 }, elementSize: 4)
    }
}
