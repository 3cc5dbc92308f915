import CBLAS
import Foundation

/// Which OpenBLAS kernels run. Debian 12's OpenBLAS 0.3.21 does not recognise recent Xeons
/// (Sapphire Rapids) and falls back to its oldest x86-64 kernels ("Prescott"), about 4× slower
/// than its AVX-512 ones on the same machine. The kernel set is chosen when the library loads,
/// from `OPENBLAS_CORETYPE`, so the command sets that variable and restarts itself once.
public enum OpenBLASCore {
    /// The kernel set OpenBLAS is using.
    public static var name: String {
        guard let p = openblas_get_corename() else { return "unknown" }
        return String(cString: p)
    }

    /// The core type to force, when OpenBLAS fell back to generic kernels on a CPU that has
    /// AVX-512 or AVX2/FMA, `OPENBLAS_CORETYPE` is not set and `MODELPORT_OPENBLAS_CORETYPE`
    /// is not `off`; nil otherwise.
    public static func recommendedOverride(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        guard environment["OPENBLAS_CORETYPE"] == nil, environment["MODELPORT_OPENBLAS_CORETYPE"] != "off" else { return nil }
        guard ["Prescott", "Core2", "Nehalem", "Unknown", "unknown"].contains(name) else { return nil }
        guard let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flagsLine = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return nil }
        let flags = Set(flagsLine.split(separator: " ").map(String.init))
        if ["avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"].allSatisfy(flags.contains) { return "SkylakeX" }
        if ["avx2", "fma"].allSatisfy(flags.contains) { return "Haswell" }
        return nil
    }
}
