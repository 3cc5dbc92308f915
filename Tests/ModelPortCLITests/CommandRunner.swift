import Foundation
import Testing

/// Runs the built `modelport` binary and captures what a user would see.
struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
    var stderrLines: [String] { stderr.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) }
}

enum ModelPortBinary {
    /// `MODELPORT_BINARY` selects another build (the test command also runs these tests against
    /// the release binary, which users run).
    static let url: URL = {
        if let path = ProcessInfo.processInfo.environment["MODELPORT_BINARY"] { return URL(fileURLWithPath: path) }
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [here, here.deletingLastPathComponent(), here.deletingLastPathComponent().deletingLastPathComponent()] {
            let url = candidate.appendingPathComponent("modelport")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/modelport")
    }()

    /// Runs the command with its output discarded and returns its own peak resident memory in
    /// kilobytes: the largest `VmHWM` of /proc/PID/status sampled every half millisecond until it
    /// exits (the high-water mark of its memory, so only growth in its last half millisecond can
    /// be missed). Not `wait4`'s `ru_maxrss`: Linux carries into a posix_spawn child's maximum the
    /// resident size of the process that spawned it, here this test process (over 1 GB under
    /// AddressSanitizer). HDF5's check process is limited on its own (SeparateReadCheck).
    static func peakKilobytes(_ arguments: [String]) throws -> Int {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd: Int32 in [1, 2] { posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", O_WRONLY, 0) }
        let argv = ([url.path] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, url.path, &actions, nil, argv, environ)
        guard spawned == 0 else { throw CocoaError(.fileReadUnknown) }
        var peak = 0
        var status: Int32 = 0
        while waitpid(pid, &status, WNOHANG) == 0 {
            if let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
               let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
               let kilobytes = Int(line.dropFirst(6).trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "") {
                peak = max(peak, kilobytes)
            }
            usleep(500)
        }
        return peak
    }

    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> CommandResult {
        let process = Process()
        process.executableURL = url
        process.arguments = arguments
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return CommandResult(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                             stderr: String(decoding: errData, as: UTF8.self))
    }
}

enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")
    static func keras(_ name: String) -> String { root.appendingPathComponent("keras").appendingPathComponent(name).path }
}

/// A fresh temporary folder for files a test writes.
func temporaryFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("modelport-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Checks the contract for bad input: exit 2, one `error:` line on stderr naming the file,
/// mentioning each of `words`, nothing on stdout.
func expectCleanFailure(_ arguments: [String], naming file: String, mentions words: [String] = [],
                        environment: [String: String] = [:], sourceLocation: SourceLocation = #_sourceLocation) throws {
    let result = try ModelPortBinary.run(arguments, environment: environment)
    #expect(result.status == 2, "exit status", sourceLocation: sourceLocation)
    #expect(result.stderrLines.count == 1, "one line on stderr, got: \(result.stderr)", sourceLocation: sourceLocation)
    let line = result.stderrLines.first ?? ""
    #expect(line.hasPrefix("error: "), "starts with error:", sourceLocation: sourceLocation)
    #expect(line.contains(file), "names the file: \(line)", sourceLocation: sourceLocation)
    for w in words { #expect(line.lowercased().contains(w.lowercased()), "mentions '\(w)': \(line)", sourceLocation: sourceLocation) }
    #expect(result.stdout.isEmpty, sourceLocation: sourceLocation)
}
