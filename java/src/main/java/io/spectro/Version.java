package io.spectro;

/** The engine's version and the native ABI version it expects. */
public final class Version {
    public static final String VERSION = "0.1.0";
    public static final int ABI_VERSION = 2;

    private Version() {}
}
