package io.spectro.torch;

import io.spectro.SpectroException;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.pytorch.global.torch;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;

/**
 * Loads libtorch (the JavaCPP presets, org.bytedeco:pytorch) once, for the MLP regressor and the test
 * oracle. The presets' jars are not in spectro-all.jar: they sit in {@code lib/} beside it and the jar's
 * manifest names them. When they are missing or their native libraries do not load, {@link #load}
 * throws a SpectroException that says why, and everything that needs no libtorch keeps working.
 * {@code -Dspectro.torch=off} makes libtorch unavailable on purpose (to check a deployment without it).
 */
public final class Libtorch {
    private static volatile boolean loaded;
    private static final java.util.regex.Pattern OPENBLAS = java.util.regex.Pattern.compile("/libopenblas[^/]*\\.so(\\.[0-9]+)*$");

    private Libtorch() {}

    /** Loads libtorch, or throws a SpectroException starting "libtorch unavailable because". */
    public static synchronized void load() {
        if ("off".equalsIgnoreCase(System.getProperty("spectro.torch", ""))) throw unavailable("-Dspectro.torch=off is set", null);
        if (loaded) return;
        try {
            Class.forName("org.bytedeco.javacpp.Loader", false, Libtorch.class.getClassLoader());
            Class.forName("org.bytedeco.pytorch.global.torch", false, Libtorch.class.getClassLoader());
        } catch (ClassNotFoundException | LinkageError e) {
            throw unavailable("the org.bytedeco pytorch/javacpp/openblas jars are not on the class path"
                    + " (expected in lib/ beside spectro-all.jar; rebuild with scripts/build)", e);
        }
        try {
            // extracting the resources first avoids the SIGSEGV of a first Loader.load on an empty cache
            Loader.cacheResources(torch.class, "/org/bytedeco/pytorch/" + Loader.getPlatform() + "/");
            Loader.load(torch.class);
        } catch (IOException e) {
            throw unavailable("its native libraries cannot be extracted (" + e.getMessage() + ")", e);
        } catch (Exception | LinkageError e) {
            throw unavailable("its native libraries do not load on " + System.getProperty("os.name") + "/"
                    + System.getProperty("os.arch") + " (" + e + ")", e);
        }
        loaded = true;
    }

    private static SpectroException unavailable(String why, Throwable cause) {
        return new SpectroException("libtorch unavailable because " + why, cause);
    }

    /**
     * Intra-op threads of libtorch (OpenMP) and of the OpenBLAS it calls for GEMMs, which runs its own
     * pthread pool (default: one thread per core) and ignores torch.set_num_threads. Every OpenBLAS mapped
     * into this process is set: JavaCPP loads both libopenblas.so.0 and libopenblas_nolapack.so.0 from the
     * openblas artifact; setting only the first left a thread of the second one busy beside the caller
     * during training (seen with gdb).
     */
    public static synchronized void setThreads(int n) {
        load();
        torch.set_num_threads(n);
        Set<String> libs = new TreeSet<>();
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/maps"))) {
                int slash = line.indexOf('/');
                if (slash >= 0 && OPENBLAS.matcher(line.substring(slash)).find()) libs.add(line.substring(slash));
            }
        } catch (IOException e) {
            return; // not Linux: OpenBLAS keeps its default (OPENBLAS_NUM_THREADS)
        }
        Linker linker = Linker.nativeLinker();
        for (String lib : libs) {
            SymbolLookup.libraryLookup(Path.of(lib), Arena.global()).find("openblas_set_num_threads").ifPresent(f -> {
                try {
                    linker.downcallHandle(f, FunctionDescriptor.ofVoid(ValueLayout.JAVA_INT)).invoke(n);
                } catch (Throwable t) {
                    throw new IllegalStateException("openblas_set_num_threads failed", t);
                }
            });
        }
    }
}
