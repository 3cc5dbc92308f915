/// ModelPort's version, written into files it produces.
public enum ModelPortVersion {
    public static let string = "0.1.0"
}
