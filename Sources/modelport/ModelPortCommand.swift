import ArgumentParser
import Foundation
import Engine
import ModelIR
import ModelPort

/// `modelport`: load, check and convert classifiers trained in Keras or ONNX.
struct ModelPortCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "modelport",
        abstract: "Load, run, check and convert classifiers trained in Keras or ONNX.",
        discussion: """
        Model files are told apart by content: Keras 2 .h5 (full model or weights only), \
        Keras 3 .keras and .weights.h5. A weights-only file needs --architecture FILE.
        Exit codes: 0 ok, 1 a check found a failure, 2 bad usage or unreadable input.
        """,
        version: ModelPortVersion.string,
        subcommands: [InspectCommand.self, RunCommand.self, ValidateCommand.self, CheckCommand.self, ConvertCommand.self, FinetuneCommand.self,
                      BenchCommand.self]
    )
}

/// Prints one `error:` line and exits 2: the contract for bad input and bad usage.
func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
    exit(2)
}

/// Restarts the process once with the environment the kernel libraries read when they load:
/// `OPENBLAS_CORETYPE` when OpenBLAS fell back to its generic kernels on a CPU it did not
/// recognise (see `OpenBLASCore`), and `GOMP_SPINCOUNT=5000` (0 while other work keeps a core busy) so oneDNN's
/// OpenMP threads spin only a few microseconds between primitives before they sleep, instead of spinning against the
/// engine's own threads (seed model, 2 threads, loaded machine: 24 img/s at batch 32 with the
/// default spin; passive waiting costs 0.3 ms at batch 1: 2.19 ms against 1.88–1.91 ms).
func selectKernelEnvironment() {
    // Only the commands that compute need it; the restart costs a process start.
    guard CommandLine.arguments.count > 1, ["run", "validate", "check", "bench", "convert", "finetune"].contains(CommandLine.arguments[1]) else { return }
    var restart = false
    if let core = OpenBLASCore.recommendedOverride() { setenv("OPENBLAS_CORETYPE", core, 1); restart = true }
    let environment = ProcessInfo.processInfo.environment
    if environment["OMP_WAIT_POLICY"] == nil, environment["GOMP_SPINCOUNT"] == nil {
        setenv("GOMP_SPINCOUNT", machineIsBusy() ? "0" : "5000", 1)
        restart = true
    }
    // OpenBLAS's own threads spin for 2^28 cycles after a GEMM by default, against oneDNN's next
    // convolution: 2^4 (seed, batch 32, 2 threads: slowest run 138–148 ms → 78–100 ms).
    if environment["OPENBLAS_THREAD_TIMEOUT"] == nil { setenv("OPENBLAS_THREAD_TIMEOUT", "4", 1); restart = true }
    guard restart else { return }
    var arguments = CommandLine.arguments.map { strdup($0) }
    arguments.append(nil)
    execv("/proc/self/exe", &arguments)
    // execv returns only on failure: carry on with the libraries as they are.
}

/// Whether other work keeps a core busy right now: another task is runnable in each of five
/// looks at /proc/loadavg's running count over 8 ms, less this process's running threads. Spinning
/// OpenMP threads then wait for a thread the kernel has descheduled (seed model, batch 1 on 2
/// threads beside a busy loop: 6.3 ms median spinning 5000 times, 2.5 ms not spinning; on an
/// idle machine 1.3–2.1 ms against 2.0–2.7 ms the other way round). Not looked at for
/// `--threads 1`, which has no OpenMP team.
func machineIsBusy() -> Bool {
    let arguments = CommandLine.arguments
    if let i = arguments.firstIndex(of: "--threads"), i + 1 < arguments.count, arguments[i + 1] == "1" { return false }
    if arguments.contains("--threads=1") { return false }
    // This process's own runnable threads (OpenBLAS starts its pool when it loads) do not count.
    func ownRunning() -> Int {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.filter { task in
            guard let stat = try? String(contentsOfFile: "/proc/self/task/\(task)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("R")
        }.count
    }
    func othersRunning() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count >= 4, let running = fields[3].split(separator: "/").first.flatMap({ Int($0) }) else { return nil }
        return running - max(1, ownRunning())
    }
    for look in 0..<5 {
        guard let others = othersRunning(), others >= 1 else { return false }
        if look < 4 { usleep(2_000) }
    }
    return true
}

/// Takes `--max-memory SIZE` (any command): the most one tensor may take, `512M`, `4G` or bytes.
/// Files that claim more are refused before anything is allocated (`Sizes.budget`).
func memoryBudgetApplied(_ arguments: [String]) throws -> [String] {
    var rest: [String] = []
    var i = 0
    while i < arguments.count {
        let a = arguments[i]
        if a == "--max-memory" || a.hasPrefix("--max-memory=") {
            let value = a == "--max-memory" ? (i + 1 < arguments.count ? arguments[i + 1] : "") : String(a.dropFirst("--max-memory=".count))
            guard let bytes = Sizes.parseBytes(value) else {
                throw ValidationError("--max-memory needs a size such as 512M, 4G or a number of bytes, got '\(value)'")
            }
            Sizes.budget = bytes
            i += a == "--max-memory" ? 2 : 1
            continue
        }
        rest.append(a)
        i += 1
    }
    return rest
}

/// Runs the command; user errors become one line on stderr and exit code 2.
func runModelPort() {
    selectKernelEnvironment()
    let command: ParsableCommand
    do {
        command = try ModelPortCommand.parseAsRoot(try memoryBudgetApplied(Array(CommandLine.arguments.dropFirst())))
    } catch {
        if ModelPortCommand.exitCode(for: error) == .success { ModelPortCommand.exit(withError: error) }
        let message = ModelPortCommand.message(for: error).split(separator: "\n").first.map(String.init) ?? "invalid usage"
        fail(message.hasPrefix("Error: ") ? String(message.dropFirst(7)) : message)
    }
    do {
        var command = command
        try command.run()
    } catch let e as ModelPortError {
        fail(e.description)
    } catch let e as ExitCode {
        exit(e.rawValue)
    } catch {
        // Help and version requests (the root command run without a subcommand) print and exit 0.
        if ModelPortCommand.exitCode(for: error) == .success { ModelPortCommand.exit(withError: error) }
        fail(String(describing: error))
    }
}
