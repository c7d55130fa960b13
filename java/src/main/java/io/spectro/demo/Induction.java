package io.spectro.demo;

import io.spectro.model.ModelConfig;
import io.spectro.model.ParamLayout;
import io.spectro.nativeabi.NativeBatch;
import io.spectro.nativeabi.NativeModel;

import java.util.ArrayList;
import java.util.List;

/**
 * The induction check of the demo (Baker et al. 2025): how well each component's susceptibility
 * separates induction tokens (those completing [A][B] ... [A] -> [B]) from the other probe tokens,
 * and, independently of any susceptibility, which components the model's induction mechanism uses.
 * <ul>
 *   <li>{@link #separation}: ROC AUC of chi per column, reported as max(AUC, 1 - AUC) with the sign that
 *       separates (0.5 = none, 1 = perfect), on the raw chi and after removing the uniform mode
 *       (columns z-scored, then every row centred: method.md section 6 says the first direction is a
 *       uniform mode that separates induction tokens in every column alike);</li>
 *   <li>{@link #ablation}: the mean loss on induction tokens when one head's (or MLP's) output is
 *       zeroed; a head whose removal destroys copying is part of the circuit. This is the ground truth
 *       the susceptibilities are read against.</li>
 * </ul>
 */
public final class Induction {
    private Induction() {}

    /** AUC of one component on raw and on row-centred chi; {@code direction} "-" when induction tokens have the lower value. */
    public record Row(String component, double auc, String direction, double aucCentred, String directionCentred) {
        /** The plain (signed) AUC of the row-centred column: above 0.5 when induction tokens sit higher. */
        public double centredSigned() {
            return directionCentred.equals("+") ? aucCentred : 1 - aucCentred;
        }
    }

    /** Loss on induction tokens and on the other probe tokens with one component's output zeroed (null = intact model). */
    public record Ablation(String component, double inductionLoss, double otherLoss) {}

    public static List<Row> separation(float[] chi, int rows, List<String> components, boolean[] induction) {
        int h = components.size();
        double[][] z = new double[h][rows];
        for (int c = 0; c < h; c++) {
            double mean = 0, var = 0;
            for (int r = 0; r < rows; r++) mean += chi[r * h + c];
            mean /= rows;
            for (int r = 0; r < rows; r++) var += Math.pow(chi[r * h + c] - mean, 2);
            double sd = Math.sqrt(var / rows);
            for (int r = 0; r < rows; r++) z[c][r] = sd > 0 ? (chi[r * h + c] - mean) / sd : 0;
        }
        double[][] centred = new double[h][rows];
        for (int r = 0; r < rows; r++) {
            double m = 0;
            for (int c = 0; c < h; c++) m += z[c][r];
            m /= h;
            for (int c = 0; c < h; c++) centred[c][r] = z[c][r] - m;
        }
        List<Row> out = new ArrayList<>();
        for (int c = 0; c < h; c++) {
            double a = Roc.auc(z[c], induction), b = Roc.auc(centred[c], induction);
            out.add(new Row(components.get(c), Math.max(a, 1 - a), a < 0.5 ? "-" : "+", Math.max(b, 1 - b), b < 0.5 ? "-" : "+"));
        }
        return out;
    }

    /**
     * For every head and MLP: zero its output projection (the head's hd input columns of
     * {@code attention.dense.weight}, or the whole {@code mlp.dense_4h_to_h.weight}), forward the
     * probe set, restore. The first entry is the intact model. The model's weights are unchanged on return.
     */
    public static List<Ablation> ablation(NativeModel model, ModelConfig cfg, int[] probe, int nProbe, int T, boolean[] induction) {
        ParamLayout lay = ParamLayout.of(cfg);
        List<Ablation> out = new ArrayList<>();
        float[] losses = new float[nProbe * (T - 1)];
        try (NativeBatch b = model.batch(probe, nProbe, T)) {
            model.forward(b, losses);
            out.add(summary("none", losses, induction));
            int d = cfg.dModel(), hd = cfg.headDim();
            for (int l = 0; l < cfg.nLayers(); l++) {
                ParamLayout.Tensor dense = lay.tensor("gpt_neox.layers." + l + ".attention.dense.weight");
                float[] w = model.readParams(dense.offset(), (int) dense.numel());
                for (int h = 0; h < cfg.nHeads(); h++) {
                    float[] cut = w.clone();
                    for (int r = 0; r < d; r++) java.util.Arrays.fill(cut, r * d + h * hd, r * d + (h + 1) * hd, 0f);
                    model.writeParams(dense.offset(), cut);
                    model.forward(b, losses);
                    out.add(summary("l" + l + "h" + h, losses, induction));
                }
                model.writeParams(dense.offset(), w);
                ParamLayout.Tensor mlp = lay.tensor("gpt_neox.layers." + l + ".mlp.dense_4h_to_h.weight");
                float[] m = model.readParams(mlp.offset(), (int) mlp.numel());
                model.writeParams(mlp.offset(), new float[m.length]);
                model.forward(b, losses);
                out.add(summary("l" + l + "mlp", losses, induction));
                model.writeParams(mlp.offset(), m);
            }
        }
        return out;
    }

    private static Ablation summary(String name, float[] losses, boolean[] induction) {
        double si = 0, so = 0;
        int ni = 0, no = 0;
        for (int i = 0; i < losses.length; i++) {
            if (induction[i]) { si += losses[i]; ni++; } else { so += losses[i]; no++; }
        }
        return new Ablation(name, si / Math.max(1, ni), so / Math.max(1, no));
    }

    /** Components whose ablation raises the induction-token loss by more than {@code nats}. */
    public static List<String> circuit(List<Ablation> ablations, double nats) {
        double base = ablations.get(0).inductionLoss();
        return ablations.stream().skip(1).filter(a -> a.inductionLoss() - base > nats).map(Ablation::component).toList();
    }

    /**
     * A Markdown table of the two runs side by side (same component order), with the ablation where there
     * is one, and the last column: what nβ > 0 adds, i.e. the row-centred AUC of the SGLD run minus that of
     * the baseline (signed AUCs, so + means the landscape moves induction tokens up in that column).
     */
    public static String table(List<Row> sgld, List<Row> baseline, List<Ablation> ablations) {
        StringBuilder sb = new StringBuilder("| component | induction loss with it ablated | AUC SGLD (nβ > 0) | AUC baseline (nβ = 0) "
                + "| AUC SGLD, uniform mode removed | AUC baseline, uniform mode removed | SGLD − baseline (signed, uniform mode removed) |\n"
                + "|---|---|---|---|---|---|---|\n");
        for (int i = 0; i < sgld.size(); i++) {
            String name = sgld.get(i).component();
            String abl = ablations.stream().filter(a -> a.component().equals(name)).findFirst()
                    .map(a -> String.format("%.2f", a.inductionLoss())).orElse("–");
            sb.append(String.format("| %s | %s | %.3f (%s) | %.3f (%s) | %.3f (%s) | %.3f (%s) | %+.3f |%n", name, abl,
                    sgld.get(i).auc(), sgld.get(i).direction(), baseline.get(i).auc(), baseline.get(i).direction(),
                    sgld.get(i).aucCentred(), sgld.get(i).directionCentred(),
                    baseline.get(i).aucCentred(), baseline.get(i).directionCentred(),
                    sgld.get(i).centredSigned() - baseline.get(i).centredSigned()));
        }
        return sb.toString();
    }

    /** Heads (l{L}h{H}) ordered by what nβ > 0 adds to their row-centred signed AUC, largest first: "l0h1 +0.051". */
    public static List<String> headsByLandscape(List<Row> sgld, List<Row> baseline) {
        List<Integer> idx = new ArrayList<>();
        for (int i = 0; i < sgld.size(); i++) if (sgld.get(i).component().matches("l\\d+h\\d+")) idx.add(i);
        java.util.function.IntToDoubleFunction delta = i -> sgld.get(i).centredSigned() - baseline.get(i).centredSigned();
        idx.sort((a, b) -> Double.compare(delta.applyAsDouble(b), delta.applyAsDouble(a)));
        return idx.stream().map(i -> String.format("%s %+.3f", sgld.get(i).component(), delta.applyAsDouble(i))).toList();
    }

    /** Pearson correlation of the two runs' chi, column by column (how much nβ > 0 changes the vectors). */
    public static double[] columnCorrelation(float[] a, float[] b, int rows, int h) {
        double[] out = new double[h];
        for (int c = 0; c < h; c++) {
            double ma = 0, mb = 0;
            for (int r = 0; r < rows; r++) { ma += a[r * h + c]; mb += b[r * h + c]; }
            ma /= rows;
            mb /= rows;
            double sab = 0, saa = 0, sbb = 0;
            for (int r = 0; r < rows; r++) {
                double x = a[r * h + c] - ma, y = b[r * h + c] - mb;
                sab += x * y;
                saa += x * x;
                sbb += y * y;
            }
            out[c] = sab / Math.sqrt(saa * sbb);
        }
        return out;
    }
}
