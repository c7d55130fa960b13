package io.spectro.cli;

import io.spectro.io.Npy;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static io.spectro.cli.DataCommandTest.run;
import static org.junit.jupiter.api.Assertions.*;

/** Accepted nonsense and unhelpful messages a hostile-input pass found (issue 12): each is now a message with exit 2. */
class HostileInputTest {
    private static void refused(DataCommandTest.Run r, String... parts) {
        assertEquals(2, r.code(), r.err());
        for (String p : parts) assertTrue(r.err().contains(p), r.err());
        assertFalse(r.err().contains("\tat "), "stack trace: " + r.err());
    }

    @Test
    void nonsenseOptionsAreRefused(@TempDir Path dir) throws Exception {
        String[] chi = {"chi", "--model", dir.resolve("m").toString(), "--probe", "p.npy", "--sampling", "s.npy", "--out", dir.resolve("r").toString()};
        refused(run(with(chi, "--baseline", "--gamma", "0")), "improper");
        refused(run(with(chi, "--max-sequences", "-1")), "--max-sequences must be >= 0");
        refused(run("demo", "--sampling", "4", "--out", dir.resolve("d").toString()), "smaller than the SGLD minibatch");
        assertFalse(Files.exists(dir.resolve("r")) || Files.exists(dir.resolve("d")));
        // a .npy corpus keeping a padding id -1
        Npy.write(dir.resolve("c.npy"), new int[]{5, 6, -1, 7, 8, 9}, 2, 3);
        refused(run("data", "build", "--corpus", dir.resolve("c.npy").toString(), "--seq", "2", "--probe", "1", "--sampling", "1",
                "--out", dir.resolve("sets").toString()), "c.npy: token id -1 at flat index 2");
        assertFalse(Files.exists(dir.resolve("sets/probe.npy")));
    }

    @Test
    void ioMessagesKeepTheirCause(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("file"), "x");
        DataCommandTest.Run r = run("init", "--preset", "tiny", "--out", dir.resolve("file/model").toString());
        refused(r, "file");
        assertTrue(r.err().toLowerCase().contains("not a directory") || r.err().contains("file exists"), r.err());
        // an npy output under a file: the reason is named
        Npy.write(dir.resolve("ok.npy"), new int[]{1}, 1);
        var e = assertThrows(io.spectro.SpectroException.class, () -> Npy.write(dir.resolve("file/x.npy"), new int[]{1}, 1));
        assertTrue(e.getMessage().toLowerCase().contains("not a directory") || e.getMessage().contains("file exists"), e.getMessage());
    }

    private static String[] with(String[] args, String... extra) {
        String[] a = java.util.Arrays.copyOf(args, args.length + extra.length);
        System.arraycopy(extra, 0, a, args.length, extra.length);
        return a;
    }
}
