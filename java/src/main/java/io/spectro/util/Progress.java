package io.spectro.util;

import java.io.PrintStream;

/**
 * Progress with ETA on stderr: on a terminal a bar redrawn at most twice a second; otherwise (a log
 * file, CI) one plain line every {@value #LINE_SECONDS} seconds and one at the end, so a log holds
 * a few lines instead of thousands of redraws. {@code -Dspectro.progress=bar|lines} overrides the choice.
 */
public final class Progress {
    private final PrintStream out;
    private final long total;
    private final long start = System.nanoTime();
    private final String what;
    private long done, lastDraw;
    private String label = "";
    private final boolean enabled;
    private final boolean lines = lineMode();
    static final int LINE_SECONDS = 5;

    public Progress(String what, long total, PrintStream out, boolean enabled) {
        this.what = what;
        this.total = Math.max(1, total);
        this.out = out;
        this.enabled = enabled;
    }

    public void label(String l) {
        label = l;
    }

    public void advance(long n) {
        done += n;
        long now = System.nanoTime();
        long every = lines ? LINE_SECONDS * 1_000_000_000L : 500_000_000L;
        if (enabled && (now - lastDraw > every || (!lines && done >= total))) {
            lastDraw = now;
            draw(now);
        }
    }

    public void step() {
        advance(1);
    }

    private void draw(long now) {
        double f = Math.min(1.0, (double) done / total);
        int w = 30, fill = (int) Math.round(f * w);
        double el = (now - start) / 1e9;
        String eta = done == 0 ? "?" : fmt(el / done * (total - done));
        if (lines) {
            out.println(what + " " + String.format("%3d%% %s ETA %s  %s", (int) (f * 100), fmt(el), eta, label).stripTrailing());
            return;
        }
        out.print("\r" + what + " [" + "=".repeat(fill) + " ".repeat(w - fill) + "] "
                + String.format("%3d%% %s ETA %s  %-12s", (int) (f * 100), fmt(el), eta, label));
        out.flush();
    }

    public void finish() {
        if (enabled) {
            draw(System.nanoTime());
            if (!lines) out.println();
        }
    }

    private static boolean lineMode() {
        String p = System.getProperty("spectro.progress", "");
        if (p.equals("lines")) return true;
        if (p.equals("bar")) return false;
        java.io.Console c = System.console();
        return c == null || !c.isTerminal();
    }

    /** A duration as "1h05m" or "3m07s" (also the Spark driver's progress lines). */
    public static String fmt(double s) {
        long t = Math.round(s);
        return t >= 3600 ? String.format("%dh%02dm", t / 3600, t / 60 % 60) : String.format("%dm%02ds", t / 60, t % 60);
    }
}
