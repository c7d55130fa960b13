package io.spectro.nativeabi;

import io.spectro.SpectroException;
import io.spectro.Version;
import io.spectro.model.ModelConfig;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One loaded native backend library: {@code libspectro_cpu.so} or {@code libspectro_cuda.so}.
 *
 * <p>The library is searched in {@code -Dspectro.native.dir}, then {@code $SPECTRO_NATIVE_DIR},
 * then {@code <-Dspectro.repo>/build/native}; it is loaded once per JVM into the global arena, its
 * {@code sp_abi_version()} must equal {@link Version#ABI_VERSION}, and for cuda
 * {@code sp_backend_probe()} must succeed. "auto" means cuda when available, else cpu.
 */
public final class Backend {
    private static final Map<String, Backend> LOADED = new ConcurrentHashMap<>();
    private static final Map<String, String> FAILED = new ConcurrentHashMap<>();

    private final String kind;
    private final SpectroAbi abi;
    private final String name;

    private Backend(String kind, SpectroAbi abi, String name) {
        this.kind = kind;
        this.abi = abi;
        this.name = name;
    }

    /** Loads "cpu", "cuda" or "auto"; throws {@link BackendUnavailableException} saying why it cannot. */
    public static Backend load(String kind) {
        String k = kind == null ? "auto" : kind.toLowerCase(Locale.ROOT).strip();
        return switch (k) {
            case "cpu", "cuda" -> loadKind(k);
            case "auto" -> {
                try {
                    yield loadKind("cuda");
                } catch (BackendUnavailableException cuda) {
                    try {
                        yield loadKind("cpu");
                    } catch (BackendUnavailableException cpu) {
                        throw new BackendUnavailableException("cpu", "no backend available: " + cpu.getMessage() + "; "
                                + cuda.getMessage(), cpu);
                    }
                }
            }
            default -> throw new SpectroException("--backend: unknown backend '" + kind + "'; use cpu, cuda or auto");
        };
    }

    /** Why {@link #load(String)} would fail, or empty when it succeeds. */
    public static Optional<String> unavailableReason(String kind) {
        try {
            load(kind);
            return Optional.empty();
        } catch (BackendUnavailableException e) {
            return Optional.of(e.getMessage());
        }
    }

    /** The folders searched for the libraries, in order. */
    public static List<Path> searchDirs() {
        List<Path> dirs = new ArrayList<>();
        String prop = System.getProperty("spectro.native.dir");
        if (prop != null && !prop.isBlank()) dirs.add(Path.of(prop));
        String env = System.getenv("SPECTRO_NATIVE_DIR");
        if (env != null && !env.isBlank() && !dirs.contains(Path.of(env))) dirs.add(Path.of(env));
        String repo = System.getProperty("spectro.repo");
        if (repo != null && !repo.isBlank() && !dirs.contains(Path.of(repo, "build", "native"))) dirs.add(Path.of(repo, "build", "native"));
        return dirs;
    }

    /** The library file for a kind: the first of {@link #searchDirs()} that holds it, or empty. */
    public static Optional<Path> findLibrary(String kind) {
        String file = "libspectro_" + kind + ".so";
        for (Path d : searchDirs()) if (Files.isRegularFile(d.resolve(file))) return Optional.of(d.resolve(file));
        return Optional.empty();
    }

    private static Backend loadKind(String kind) {
        Backend b = LOADED.get(kind);
        if (b != null) return b;
        String failed = FAILED.get(kind);
        if (failed != null) throw new BackendUnavailableException(kind, failed);
        synchronized (Backend.class) {
            b = LOADED.get(kind);
            if (b != null) return b;
            try {
                b = open(kind);
                LOADED.put(kind, b);
                return b;
            } catch (BackendUnavailableException e) {
                // a library that loaded but cannot run stays unavailable; a missing file may appear later
                if (findLibrary(kind).isPresent()) FAILED.put(kind, e.getMessage());
                throw e;
            }
        }
    }

    private static Backend open(String kind) {
        String file = "libspectro_" + kind + ".so";
        Path lib = findLibrary(kind).orElseThrow(() -> new BackendUnavailableException(kind, kind + " backend unavailable because "
                + file + " not found in " + searchDirs() + "; run scripts/build-native"
                + (kind.equals("cuda") ? " on a machine with nvcc" : "")));
        SpectroAbi abi;
        try {
            abi = new SpectroAbi(lib, SymbolLookup.libraryLookup(lib, Arena.global()));
        } catch (IllegalArgumentException | UnsatisfiedLinkError e) {
            throw new BackendUnavailableException(kind, kind + " backend unavailable because " + lib + " cannot be loaded: "
                    + e.getMessage() + "; rebuild it with scripts/build-native", e);
        }
        int v = abi.abiVersion();
        if (v != Version.ABI_VERSION)
            throw new BackendUnavailableException(kind, kind + " backend unavailable because " + lib + " has ABI version " + v
                    + " but this spectro expects " + Version.ABI_VERSION + "; rebuild it with scripts/build-native");
        if (kind.equals("cuda")) {
            int s = abi.backendProbe();
            if (s != SpectroAbi.SP_OK)
                throw new BackendUnavailableException(kind, "cuda backend unavailable because: " + orNone(abi.lastError()));
        }
        return new Backend(kind, abi, abi.backendName());
    }

    private static String orNone(String s) {
        return s == null || s.isEmpty() ? "sp_backend_probe failed without a message" : s;
    }

    /** "cpu" or "cuda", as sp_backend_name() reports it. */
    public String name() {
        return name;
    }

    /** The kind this backend was loaded as ("cpu" or "cuda"). */
    public String kind() {
        return kind;
    }

    /** The loaded library file. */
    public Path library() {
        return abi.library;
    }

    /** The raw bindings (low level; prefer {@link NativeModel}). */
    public SpectroAbi abi() {
        return abi;
    }

    /** sp_noise: the standard normal noise for elements first .. first+n-1 of (seed, stream, step). */
    public float[] noise(long seed, int stream, long step, long first, int n) {
        if (n < 0 || first < 0) throw new IllegalArgumentException("noise: first " + first + " n " + n);
        float[] out = new float[n];
        int s;
        try {
            s = (int) abi.noise.invokeExact(seed, stream, step, first, (long) n, MemorySegment.ofArray(out));
        } catch (Throwable t) {
            throw SpectroAbi.rethrow(t);
        }
        abi.check(s, "sp_noise");
        return out;
    }

    /** sp_config_validate; NativeException with the native reason when the native side rejects the config. */
    public void validate(ModelConfig c) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment cfg = a.allocate(SpectroAbi.SP_CONFIG);
            SpectroAbi.putConfig(cfg, c);
            int s;
            try {
                s = (int) abi.configValidate.invokeExact(cfg);
            } catch (Throwable t) {
                throw SpectroAbi.rethrow(t);
            }
            abi.check(s, "sp_config_validate");
        }
    }

    /** sp_param_count. */
    public long paramCount(ModelConfig c) {
        return configCount(abi.paramCount, "sp_param_count", c);
    }

    /**
     * sp_feature_count: floats per prediction of {@link NativeModel#features} (the column layout is
     * spectro.h's, sp_forward_features; {@link #featureNames} names the columns).
     */
    public long featureCount(ModelConfig c) {
        return configCount(abi.featureCount, "sp_feature_count", c);
    }

    /** A count of a config ({@code int64_t f(const sp_config *)}, -1 on an invalid config: NativeException). */
    private long configCount(MethodHandle fn, String name, ModelConfig c) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment cfg = a.allocate(SpectroAbi.SP_CONFIG);
            SpectroAbi.putConfig(cfg, c);
            long n;
            try {
                n = (long) fn.invokeExact(cfg);
            } catch (Throwable t) {
                throw SpectroAbi.rethrow(t);
            }
            if (n < 0) throw new NativeException(name, SpectroAbi.SP_ERR_INVALID, abi.lastError());
            return n;
        }
    }

    /** sp_feature_name for every column: "entropy", "resid.l0", ..., "head.l0.h0", ..., "mlp.l0", ..., "attent.l0.h0", ... */
    public List<String> featureNames(ModelConfig c) {
        long f = featureCount(c);
        List<String> names = new ArrayList<>((int) f);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment cfg = a.allocate(SpectroAbi.SP_CONFIG);
            SpectroAbi.putConfig(cfg, c);
            MemorySegment buf = a.allocate(64);
            for (long k = 0; k < f; k++) {
                int s;
                try {
                    s = (int) abi.featureName.invokeExact(cfg, k, buf, 64);
                } catch (Throwable t) {
                    throw SpectroAbi.rethrow(t);
                }
                abi.check(s, "sp_feature_name");
                names.add(buf.getString(0));
            }
        }
        return names;
    }

    /** sp_param_offsets for all 4 + 12 L tensors. */
    public long[] paramOffsets(ModelConfig c) {
        long[] out = new long[4 + 12 * c.nLayers()];
        try (Arena a = Arena.ofConfined()) {
            MemorySegment cfg = a.allocate(SpectroAbi.SP_CONFIG);
            SpectroAbi.putConfig(cfg, c);
            int s;
            try {
                s = (int) abi.paramOffsets.invokeExact(cfg, MemorySegment.ofArray(out), out.length);
            } catch (Throwable t) {
                throw SpectroAbi.rethrow(t);
            }
            abi.check(s, "sp_param_offsets");
        }
        return out;
    }

    /** sp_batch_cache_bytes: the bytes one residual cache of a [B, T] batch takes. */
    public long cacheBytes(ModelConfig c, int B, int T) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment cfg = a.allocate(SpectroAbi.SP_CONFIG);
            SpectroAbi.putConfig(cfg, c);
            try {
                return (long) abi.batchCacheBytes.invokeExact(cfg, B, T);
            } catch (Throwable t) {
                throw SpectroAbi.rethrow(t);
            }
        }
    }

    @Override
    public String toString() {
        return name + " (" + abi.library + ")";
    }
}
