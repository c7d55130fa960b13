package io.spectro.io;

import io.spectro.SpectroException;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Outputs that appear whole or not at all: each file is written to a temporary sibling and renamed
 * over its name only once it is complete, so a full disk, a kill or an error leaves no 0-byte or
 * half-written file that looks valid. {@link Group} renames several files together, in order (the
 * file readers look for goes last), so a run's outputs appear together.
 */
public final class Atomic {
    private Atomic() {}

    /** Writes a file's body. */
    @FunctionalInterface
    public interface Body {
        void write(OutputStream out) throws IOException;
    }

    /** Writes {@code file} atomically from {@code body}; errors become a SpectroException naming the file and the cause. */
    public static void write(Path file, Body body) {
        try (Group g = new Group()) {
            g.write(file, body);
            g.commit();
        }
    }

    public static void writeString(Path file, String text) {
        write(file, out -> out.write(text.getBytes(StandardCharsets.UTF_8)));
    }

    public static void writeBytes(Path file, byte[] bytes) {
        write(file, out -> out.write(bytes));
    }

    /** Creates {@code dir} and its parents, or says why it cannot (a file in the way, access denied). */
    public static void createDirectories(Path dir) {
        if (dir == null) return;
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new SpectroException(dir + ": cannot create directory (" + IoErrors.describe(e) + ")", e);
        }
    }

    /**
     * Files written to temporaries, renamed over their names by {@link #commit} in the order they were
     * written (write the file readers look for last); {@link #close} without a commit deletes them.
     */
    public static final class Group implements AutoCloseable {
        private static final java.util.concurrent.atomic.AtomicLong COUNTER = new java.util.concurrent.atomic.AtomicLong();
        private final Map<Path, Path> pending = new LinkedHashMap<>();

        /** A fresh temporary beside {@code file} for a writer that needs a path (e.g. a PNG library). */
        public Path temp(Path file) {
            Path abs = file.toAbsolutePath();
            createDirectories(abs.getParent());
            try {
                Path tmp = freshSibling(abs);
                Path old = pending.put(abs, tmp);
                if (old != null) Files.deleteIfExists(old);
                return tmp;
            } catch (IOException e) {
                throw new SpectroException(file + ": cannot write (" + IoErrors.describe(e) + ")", e);
            }
        }

        /**
         * A new empty file beside {@code file}, unique across threads and processes, created with the
         * default permissions (Files.createTempFile would make it, and so the output, owner-only).
         */
        private static Path freshSibling(Path file) throws IOException {
            for (int attempt = 0; ; attempt++) {
                Path tmp = file.resolveSibling("." + file.getFileName() + "." + ProcessHandle.current().pid() + "-"
                        + COUNTER.incrementAndGet() + ".tmp");
                try {
                    return Files.createFile(tmp);
                } catch (java.nio.file.FileAlreadyExistsException e) {
                    if (attempt > 100) throw e;
                }
            }
        }

        public void write(Path file, Body body) {
            Path tmp = temp(file);
            try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(tmp), 1 << 16)) {
                body.write(out);
            } catch (IOException e) {
                throw new SpectroException(file + ": cannot write (" + IoErrors.describe(e) + ")", e);
            }
        }

        public void writeString(Path file, String text) {
            write(file, out -> out.write(text.getBytes(StandardCharsets.UTF_8)));
        }

        /** Renames every temporary over its file, in the order written. */
        public void commit() {
            List<Map.Entry<Path, Path>> all = new ArrayList<>(pending.entrySet());
            for (Map.Entry<Path, Path> e : all) {
                try {
                    Files.move(e.getValue(), e.getKey(), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                    pending.remove(e.getKey());
                } catch (IOException x) {
                    throw new SpectroException(e.getKey() + ": cannot write (" + IoErrors.describe(x) + ")", x);
                }
            }
        }

        @Override
        public void close() {
            for (Path tmp : pending.values()) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // best effort: the temporary's name says what it is
                }
            }
            pending.clear();
        }
    }
}
