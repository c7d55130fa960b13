package io.spectro.bench;

import io.spectro.upsample.GroupSplit;
import io.spectro.upsample.Regressor;
import io.spectro.upsample.Regressors;
import io.spectro.upsample.Synth;

import java.util.Locale;

/**
 * Fit time and held-out quality of the upsampling regressors (ridge vs the libtorch MLP) on a synthetic
 * target of realistic size: {@code rows} × {@code dIn} features → {@code dOut} outputs in sequences of
 * 20 rows, y = 0.3 · linear + 0.7 · (tanh and squares of 16 random projections) + N(0, 0.1²)
 * ({@code io.spectro.upsample.Synth}), 20% of the sequences held out. Prints one markdown row per kind.
 * <pre>
 *   java --add-modules jdk.incubator.vector -cp bench/target/benchmarks.jar io.spectro.bench.RegressorFitBench \
 *        [rows dIn dOut threads kinds...]   (default 20000 300 64 1 ridge mlp)
 * </pre>
 */
public final class RegressorFitBench {
    private RegressorFitBench() {}

    public static void main(String[] args) {
        int rows = args.length > 0 ? Integer.parseInt(args[0]) : 20000;
        int dIn = args.length > 1 ? Integer.parseInt(args[1]) : 300;
        int dOut = args.length > 2 ? Integer.parseInt(args[2]) : 64;
        int threads = args.length > 3 ? Integer.parseInt(args[3]) : 1;
        String[] kinds = args.length > 4 ? java.util.Arrays.copyOfRange(args, 4, args.length) : new String[]{"ridge", "mlp"};
        Synth all = Synth.make(rows, dIn, dOut, 20, 0.7, 0.1, 42);
        boolean[] out = GroupSplit.holdout(all.group(), all.n(), 0.2, 1);
        Synth train = all.select(out, false), test = all.select(out, true);
        Regressors.Options o = Regressors.Options.defaults();
        o = new Regressors.Options(o.hidden(), o.depth(), o.epochs(), o.lr(), o.weightDecay(), o.batch(), o.patience(),
                o.validation(), o.folds(), o.seed(), threads);
        System.out.printf(Locale.ROOT, "train %d rows, held out %d rows (%d features -> %d outputs), options %s%n",
                train.n(), test.n(), dIn, dOut, o);
        System.out.println("| kind | fit s | held-out mean R² | train mean R² | facts |");
        System.out.println("|---|---|---|---|---|");
        for (String kind : kinds) {
            long t0 = System.nanoTime();
            Regressor r = Regressors.fit(kind, train.x(), train.y(), train.n(), dIn, dOut, train.group(), o,
                    (done, total, label) -> System.err.printf(Locale.ROOT, "  %s %d/%d %.0f s: %s%n", kind, done, total, (System.nanoTime() - t0) / 1e9, label));
            double sec = (System.nanoTime() - t0) / 1e9;
            String facts = kind.equals("ridge")
                    ? "λ " + info(r, "lambda")
                    : "epochs " + info(r, "epochsRun") + ", best " + info(r, "bestEpoch");
            System.out.printf(Locale.ROOT, "| %s | %.1f | %.4f | %.4f | %s |%n", kind, sec, test.heldOutR2(r), train.heldOutR2(r), facts);
        }
    }

    /** A field of the model's saved facts (regressor.json "info"), read back through a save to a temp dir. */
    private static String info(Regressor r, String key) {
        try {
            java.nio.file.Path d = java.nio.file.Files.createTempDirectory("regressor");
            r.save(d);
            String v = tools.jackson.databind.json.JsonMapper.shared().readTree(d.resolve("regressor.json").toFile()).path("info").path(key).toString();
            try (var s = java.nio.file.Files.list(d)) {
                for (java.nio.file.Path p : (Iterable<java.nio.file.Path>) s::iterator) java.nio.file.Files.delete(p);
            }
            java.nio.file.Files.delete(d);
            return v;
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
