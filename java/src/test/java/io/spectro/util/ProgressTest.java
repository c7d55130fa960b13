package io.spectro.util;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.*;

class ProgressTest {
    private static String run(String mode, int steps) {
        String old = System.getProperty("spectro.progress");
        System.setProperty("spectro.progress", mode);
        try {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
            Progress p = new Progress("work", steps, out, true);
            for (int i = 0; i < steps; i++) {
                p.label("item" + (i % 3));
                p.step();
            }
            p.finish();
            return bytes.toString(StandardCharsets.UTF_8);
        } finally {
            if (old == null) System.clearProperty("spectro.progress"); else System.setProperty("spectro.progress", old);
        }
    }

    @Test
    void logModePrintsAFewPlainLinesNotRedraws() {
        String s = run("lines", 100_000);
        assertFalse(s.contains("\r"), "no carriage returns in a log");
        long lines = s.lines().count();
        assertTrue(lines >= 1 && lines <= 3, "one line at the start, one at the end (fast loop): " + lines);
        assertTrue(s.strip().endsWith("item0") || s.contains("100%"), s);
        assertTrue(s.contains("100%"), "the last line reports completion: " + s);
    }

    @Test
    void terminalModeRedrawsInPlace() {
        String s = run("bar", 10);
        assertTrue(s.contains("\r"), "a terminal bar redraws with carriage returns");
        assertTrue(s.contains("100%"));
    }

    @Test
    void disabledPrintsNothing() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        Progress p = new Progress("work", 10, new PrintStream(bytes), false);
        for (int i = 0; i < 10; i++) p.step();
        p.finish();
        assertEquals(0, bytes.size());
    }
}
