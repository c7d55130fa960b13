package io.spectro.chi;

import java.io.PrintStream;

/** A text progress bar with ETA on stderr, redrawn at most twice a second. */
public final class Progress {
    private final PrintStream out;
    private final long total;
    private final long start = System.nanoTime();
    private final String what;
    private long done, lastDraw;
    private String label = "";
    private final boolean enabled;

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
        if (enabled && (now - lastDraw > 500_000_000L || done >= total)) {
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
        out.print("\r" + what + " [" + "=".repeat(fill) + " ".repeat(w - fill) + "] "
                + String.format("%3d%% %s ETA %s  %-12s", (int) (f * 100), fmt(el), eta, label));
        out.flush();
    }

    public void finish() {
        if (enabled) {
            draw(System.nanoTime());
            out.println();
        }
    }

    static String fmt(double s) {
        long t = Math.round(s);
        return t >= 3600 ? String.format("%dh%02dm", t / 3600, t / 60 % 60) : String.format("%dm%02ds", t / 60, t % 60);
    }
}
