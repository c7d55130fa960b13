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
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;

/**
 * Loads libtorch (the JavaCPP presets, org.bytedeco:pytorch) once, for the MLP regressor and the test
 * oracle. The presets' jars are not in spectro-all.jar: they sit in {@code lib/} beside it and the jar's
 * manifest names them. When they are missing or their native libraries do not load, {@link #load}
 * throws a SpectroException that says why, and everything that needs no libtorch keeps working.
 * {@code -Dspectro.torch=off} makes libtorch unavailable on purpose (to check a deployment without it).
 *
 * <p>Exit while training: on SIGTERM/SIGINT the JVM runs its shutdown hooks and then the C library's exit
 * (libtorch's and OpenMP's static destructors) while the training thread is still inside a torch call;
 * with several intra-op threads that crashed the JVM (SIGSEGV in {@code Tensor.backward}, hs_err file).
 * Work done through {@link #exclusive} holds one lock; the shutdown hook registered by {@link #load} sets
 * a flag that the work polls with {@link #checkExiting} between native calls, and waits (at most
 * {@value #EXIT_WAIT_S} s) for it to unwind and free its tensors before the exit goes on. The lock is never
 * released after that, so no torch work starts during the exit.
 */
public final class Libtorch {
    private static volatile boolean loaded;
    private static volatile boolean exiting;
    private static final ReentrantLock WORK = new ReentrantLock();
    private static final int EXIT_WAIT_S = 20;
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
        Runtime.getRuntime().addShutdownHook(new Thread(Libtorch::drainBeforeExit, "libtorch-exit"));
        loaded = true;
    }

    /** The shutdown hook: stop the torch work in progress, if any, before the process exits. */
    private static void drainBeforeExit() {
        exiting = true;
        if (WORK.isLocked()) System.err.println("spectro: interrupted; stopping the libtorch training (nothing is written)");
        try {
            if (!WORK.tryLock(EXIT_WAIT_S, TimeUnit.SECONDS))
                System.err.println("spectro: the libtorch training did not stop within " + EXIT_WAIT_S + " s; exiting anyway");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Runs {@code work} (which calls libtorch) with libtorch loaded, one at a time process-wide (its seed and
     * thread counts are global). The work must call {@link #checkExiting} between native calls.
     */
    public static <T> T exclusive(Supplier<T> work) {
        load();
        WORK.lock();
        try {
            checkExiting();
            return work.get();
        } finally {
            WORK.unlock();
        }
    }

    /** Throws a SpectroException when the JVM is exiting (SIGTERM, SIGINT, System.exit): call between torch calls. */
    public static void checkExiting() {
        if (exiting) throw new SpectroException("interrupted: the JVM is exiting, libtorch training stopped");
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
