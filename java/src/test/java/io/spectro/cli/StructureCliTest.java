package io.spectro.cli;

import io.spectro.io.Npy;
import io.spectro.structure.SyntheticRun;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

public class StructureCliTest {
    /** Runs r and returns what it printed to System.err. */
    public static String err(Runnable r) {
        PrintStream old = System.err;
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        System.setErr(new PrintStream(b, true));
        try {
            r.run();
        } finally {
            System.setErr(old);
        }
        return b.toString();
    }

    @Test
    void badInputExitsWithTwoAndNamesTheFile(@TempDir Path dir) {
        float[] x = new float[30 * 4];
        x[4 * 7 + 1] = Float.NaN;
        Npy.write(dir.resolve("chi.npy"), x, 30, 4);
        int[] code = new int[1];
        String msg = err(() -> code[0] = Main.run("whiten", "--in", dir.resolve("chi.npy").toString(), "--out", dir.resolve("w").toString()));
        assertEquals(2, code[0]);
        assertTrue(msg.contains("chi.npy") && msg.contains("[7]"), msg);
        float[] few = new float[10 * 4];
        for (int i = 0; i < few.length; i++) few[i] = (float) Math.sin(i * 1.7) + i % 3;
        Npy.write(dir.resolve("few.npy"), few, 10, 4);
        msg = err(() -> code[0] = Main.run("cluster", "--in", dir.resolve("few.npy").toString(), "--out", dir.resolve("c").toString()));
        assertEquals(2, code[0]);
        assertTrue(msg.contains("too few vectors"), msg);
        msg = err(() -> code[0] = Main.run("report", "--run", dir.resolve("missing").toString()));
        assertEquals(2, code[0]);
        assertTrue(msg.contains("missing"), msg);
    }

    @Test
    void aFailedComponentsNanColumnIsNamedAndCanBeDropped(@TempDir Path dir) throws Exception {
        SyntheticRun.write(dir.resolve("run"), SyntheticRun.Spec.of(300, 12, 3, 4));
        Path chi = dir.resolve("run/chi.npy");
        Npy.Floats f = Npy.readFloats(chi);
        for (int r = 0; r < 300; r++) f.data()[r * 12 + 5] = Float.NaN; // what a component stopped on NaN/inf leaves
        Npy.write(chi, f.data(), 300, 12);
        String r = dir.resolve("run").toString();
        int[] code = new int[1];
        String msg = err(() -> code[0] = Main.run("report", "--run", r, "--k=15", "--min-size=10"));
        assertEquals(2, code[0]);
        assertTrue(msg.contains("column(s) [5 (l0h4)]") && msg.contains("--drop-nan-columns"), msg);
        assertFalse(Files.exists(dir.resolve("run/whiten")));
        assertEquals(0, Main.run("report", "--run", r, "--k=15", "--min-size=10", "--max-push-work=3000000", "--drop-nan-columns"));
        String clusters = Files.readString(dir.resolve("run/clusters/clusters.json"));
        assertTrue(clusters.contains("\"l0h3\"") && !clusters.contains("\"l0h4\"") && clusters.contains("\"l0h5\""), "l0h4 should be left out");
        assertTrue(Files.readString(dir.resolve("run/whiten/source.json")).contains("\"droppedColumns\":[5]"));
        assertEquals(0, Main.run("whiten", "--in", chi.toString(), "--out", dir.resolve("w").toString(), "--drop-nan-columns"));
    }

    @Test
    void whitenClusterMapReportCompare(@TempDir Path dir) throws Exception {
        SyntheticRun.write(dir.resolve("run"), SyntheticRun.Spec.of(700, 20, 3, 4));
        String r = dir.resolve("run").toString();
        String fast = "--k=15 --min-size=10 --max-push-work=3000000";
        assertEquals(0, Main.run("whiten", "--in", r + "/chi.npy", "--out", r + "/whiten", "--center-rows"));
        assertTrue(Files.isRegularFile(dir.resolve("run/whiten/transform.json")));
        assertEquals(0, Main.run(("cluster --in " + r + "/whiten/whitened.npy --out " + r + "/clusters " + fast).split(" ")));
        int[] labels = Npy.readInts(dir.resolve("run/clusters/labels.npy")).data();
        assertEquals(700, labels.length);
        assertEquals(0, Main.run("map", "--clusters", r + "/clusters"));
        assertEquals(0, Main.run("report", "--run", r));
        assertTrue(Files.readString(dir.resolve("run/report/index.html")).contains("application/json"));
        SyntheticRun.write(dir.resolve("run2"), SyntheticRun.Spec.of(500, 20, 2, 5));
        assertEquals(0, Main.run(("report --run " + dir.resolve("run2") + " " + fast).split(" ")));
        assertEquals(0, Main.run("compare", r, dir.resolve("run2").toString(), "--tokens", "time,year", "--out", dir.resolve("cmp.html").toString()));
        assertTrue(Files.readString(dir.resolve("cmp.html")).contains("Tokens across runs"));
    }
}
