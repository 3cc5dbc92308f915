import CHDF5Check
import Foundation

/// libhdf5 meets every file ModelPort reads in a separate process first (`check.c`): one that
/// crashes libhdf5, makes it allocate past a limit, or never finishes, is refused with only that
/// process lost. The limits grow with the file: 512 MB plus twice its size, 10 s plus 1 s per 20 MB.
/// `GlobalHeapCheck` runs first; a file that passed both is not checked again while unchanged.
enum SeparateReadCheck {
    private struct FileIdentity: Hashable {
        let device: UInt64, inode: UInt64, size: Int64, seconds: Int, nanoseconds: Int
    }

    private static let lock = NSLock()
    /// Files that passed in this process, as they were then: a file is checked once per change.
    /// (Identity and change time, as `make` and git judge a file; reading it again to hash it would
    /// cost what the check costs.)
    nonisolated(unsafe) private static var passed: Set<FileIdentity> = []

    /// `modelport-hdf5-check`, a fresh process that inherits nothing of this one: named by
    /// `MODELPORT_HDF5_CHECK`, or beside the running executable (as SwiftPM and `make` build it).
    /// Without it (or with `MODELPORT_HDF5_CHECK=fork`) this process forks and the child reads,
    /// with the same limits but without the helper's AddressSanitizer; a process with other
    /// threads inside libhdf5 or the allocator at that moment may leave the child waiting on
    /// their locks, and the file is then refused at the time limit.
    static let helper: String? = {
        if let named = ProcessInfo.processInfo.environment["MODELPORT_HDF5_CHECK"], !named.isEmpty {
            return named == "fork" ? nil : named
        }
        guard let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return nil }
        let beside = URL(fileURLWithPath: executable).deletingLastPathComponent().appendingPathComponent("modelport-hdf5-check").path
        return FileManager.default.isExecutableFile(atPath: beside) ? beside : nil
    }()

    static func validate(_ path: String) throws {
        var info = stat()
        guard stat(path, &info) == 0 else { return }
        let identity = FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
                                    seconds: info.st_mtim.tv_sec, nanoseconds: info.st_mtim.tv_nsec)
        if lock.withLock({ passed.contains(identity) }) { return }
        // The damage libhdf5 copies past or loops on is refused first, with where it is.
        try GlobalHeapCheck.validate(path)
        let size = max(0, Int(info.st_size))
        let (twice, doubling) = size.multipliedReportingOverflow(by: 2)
        let (sum, adding) = (512 << 20).addingReportingOverflow(twice)
        let memory = doubling || adding ? Int.max : sum
        let timeout = Int32(clamping: 10_000 + size / 20_000)
        var detail: Int32 = 0
        let result: mp_hdf5_check_result
        if let helper {
            result = mp_hdf5_check(path, helper, Int64(memory), timeout, &detail)
        } else {
            result = mp_hdf5_check(path, nil, Int64(memory), timeout, &detail)
        }
        let hostile = "the file is damaged or hostile"
        if result == MP_HDF5_CHECK_PASSED {
            // As git's "racily clean" rule: a file changed in the last second may change again within
            // the file system's timestamp resolution without its identity changing, so it is not kept.
            let changed = Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9
            if Date().timeIntervalSince1970 - changed > 1 { lock.withLock { _ = passed.insert(identity) } }
            return
        }
        let reason: String
        if result == MP_HDF5_CHECK_CRASHED, detail == -4 {
            // The helper's AddressSanitizer exit code (modelport-hdf5-check/main.c).
            reason = "libhdf5 reads or writes outside its buffers reading it (AddressSanitizer, in a separate check process); \(hostile)"
        } else if result == MP_HDF5_CHECK_CRASHED {
            let how = detail > 0 ? "signal \(detail)" : "exit code \(-detail)"
            reason = "libhdf5 crashed reading it (\(how), in a separate check process); \(hostile)"
        } else if result == MP_HDF5_CHECK_MEMORY {
            reason = "libhdf5 asks for more than \(memory >> 20) MB to read it (in a separate check process); \(hostile)"
        } else if result == MP_HDF5_CHECK_TIMEOUT {
            reason = "libhdf5 did not finish reading it within \(timeout / 1000) s (in a separate check process); \(hostile)"
        } else {
            reason = "cannot start the process that checks it before reading (\(String(cString: strerror(detail))))"
        }
        throw HDF5Error.cannotOpen(file: path, reason: reason)
    }
}
