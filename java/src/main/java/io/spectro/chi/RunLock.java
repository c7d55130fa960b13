package io.spectro.chi;

import io.spectro.SpectroException;
import io.spectro.io.Atomic;
import io.spectro.io.IoErrors;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Who may work in a run directory at once: an unsharded {@code chi} takes it alone; shards share it
 * with each other, one process per shard K/M. Locks are on the open file ({@code .lock},
 * {@code .lock-shard-K-of-M}), so a killed process leaves none behind. A Spark task is a shard that
 * owns one run ({@code Shard.single}): tasks of different runs share the directory like shards, and a
 * second copy of the same task (a retry while the first attempt still runs, a speculative copy) waits
 * for the first instead of being refused, then finds the run finished.
 */
final class RunLock implements AutoCloseable {
    /** Locks this JVM holds (the OS lock is per process: shards run as threads share one shared lock). */
    private static final Map<Path, Held> HELD = new HashMap<>();

    private static final class Held {
        final FileChannel channel;
        final boolean shared;
        int users = 1;

        Held(FileChannel channel, boolean shared) {
            this.channel = channel;
            this.shared = shared;
        }
    }

    private final List<Path> taken = new ArrayList<>();

    private RunLock() {}

    static RunLock acquire(Path runDir, ChiRun.Shard shard) {
        return acquire(runDir, shard, false);
    }

    /** @param waitForSameShard wait while another process or thread holds this shard's lock (else: refuse) */
    static RunLock acquire(Path runDir, ChiRun.Shard shard, boolean waitForSameShard) {
        Atomic.createDirectories(runDir);
        RunLock l = new RunLock();
        try {
            boolean sharded = shard.count() > 1;
            l.take(runDir.resolve(".lock"), sharded, runDir + ": another spectro chi is working in this directory"
                    + (sharded ? " without --shard" : "") + "; wait for it to finish or use another --out");
            if (sharded) {
                Path file = runDir.resolve(".lock-shard-" + shard.index() + "-of-" + shard.count());
                if (waitForSameShard) l.await(file);
                else l.take(file, false, runDir + ": another spectro chi is already computing shard " + shard.index() + "/" + shard.count() + " here");
            }
            return l;
        } catch (RuntimeException e) {
            l.close();
            throw e;
        }
    }

    private void take(Path file, boolean shared, String busy) {
        Path key = file.toAbsolutePath().normalize();
        synchronized (HELD) {
            Held h = HELD.get(key);
            if (h != null) {
                if (!shared || !h.shared) throw new SpectroException(busy);
                h.users++;
                taken.add(key);
                return;
            }
            FileChannel ch = null;
            try {
                ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
                FileLock lock;
                try {
                    lock = ch.tryLock(0, Long.MAX_VALUE, shared);
                } catch (OverlappingFileLockException e) {
                    lock = null;
                }
                if (lock == null) throw new SpectroException(busy);
                HELD.put(key, new Held(ch, shared));
                taken.add(key);
            } catch (IOException e) {
                throw new SpectroException(file + ": cannot lock the run directory (" + IoErrors.describe(e) + ")", e);
            } finally {
                if (ch != null && !taken.contains(key)) closeQuietly(ch);
            }
        }
    }

    /** An exclusive lock on {@code file}, waiting for this JVM's and other processes' holders to let go. */
    private void await(Path file) {
        Path key = file.toAbsolutePath().normalize();
        synchronized (HELD) {
            try {
                while (HELD.containsKey(key)) HELD.wait();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new SpectroException(file + ": interrupted while waiting for another copy of this run to finish", e);
            }
            HELD.put(key, new Held(null, false)); // reserved: this JVM's other threads wait on it from now on
            taken.add(key);
        }
        FileChannel ch = null;
        try {
            ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
            if (ch.tryLock() == null) {
                System.err.println("chi: " + file.getParent() + ": another process is computing this run; waiting for it");
                ch.lock(); // outside the monitor: this JVM's other locks stay free meanwhile
            }
            synchronized (HELD) {
                HELD.put(key, new Held(ch, false));
            }
        } catch (IOException e) {
            if (ch != null) closeQuietly(ch);
            throw new SpectroException(file + ": cannot lock the run directory (" + IoErrors.describe(e) + ")", e);
        }
    }

    private static void closeQuietly(FileChannel ch) {
        try {
            ch.close(); // releases the lock
        } catch (IOException ignored) {
            // nothing else to release
        }
    }

    @Override
    public void close() {
        synchronized (HELD) {
            for (Path key : taken) {
                Held h = HELD.get(key);
                if (h != null && --h.users == 0) {
                    HELD.remove(key);
                    if (h.channel != null) closeQuietly(h.channel);
                }
            }
            taken.clear();
            HELD.notifyAll(); // threads waiting in await
        }
    }
}
