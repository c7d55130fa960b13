package io.spectro.demo;

import io.spectro.model.ModelConfig;
import io.spectro.model.ParamLayout;
import io.spectro.nativeabi.NativeBatch;
import io.spectro.nativeabi.NativeModel;
import io.spectro.util.Vectors;
import io.spectro.whiten.Whitening;
import org.apache.commons.math3.stat.correlation.PearsonsCorrelation;

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

    /**
     * Plain ROC AUCs of one component (above 0.5 when induction tokens have the higher value): on the
     * chi column, and on the column with the uniform mode removed.
     */
    public record Row(String component, double signedAuc, double centredSigned) {
        /** max(AUC, 1 - AUC): how well the column separates, whichever side induction tokens are on. */
        public double auc() { return Math.max(signedAuc, 1 - signedAuc); }
        /** "-" when induction tokens have the lower chi. */
        public String direction() { return signedAuc < 0.5 ? "-" : "+"; }
        public double aucCentred() { return Math.max(centredSigned, 1 - centredSigned); }
        public String directionCentred() { return centredSigned < 0.5 ? "-" : "+"; }
    }

    /** Loss on induction tokens and on the other probe tokens with one component's output zeroed ("none" = intact model). */
    public record Ablation(String component, double inductionLoss, double otherLoss) {}

    public static List<Row> separation(float[] chi, int rows, List<String> components, boolean[] induction) {
        int h = components.size();
        Vectors v = new Vectors(chi, rows, h);
        float[] z = Whitening.zscore(v, false).standardize(v, 1).data();
        float[] centred = Whitening.zscore(v, true).standardize(v, 1).data();
        List<Row> out = new ArrayList<>();
        for (int c = 0; c < h; c++)
            out.add(new Row(components.get(c), Roc.auc(column(z, rows, h, c), induction), Roc.auc(column(centred, rows, h, c), induction)));
        return out;
    }

    /** Column c of a row-major [rows, h] matrix, in double. */
    static double[] column(float[] m, int rows, int h, int c) {
        double[] out = new double[rows];
        for (int r = 0; r < rows; r++) out[r] = m[r * h + c];
        return out;
    }

    /**
     * For every head and MLP: zero its output projection (the head's hd input columns of
     * {@code attention.dense.weight}, or the whole {@code mlp.dense_4h_to_h.weight}), forward the
     * probe set, restore. The first entry is the intact model, whose per-token losses are copied into
     * {@code intactLosses} when it is not null. The model's weights are unchanged on return.
     */
    public static List<Ablation> ablation(NativeModel model, ModelConfig cfg, int[] probe, int nProbe, int T, boolean[] induction,
                                         float[] intactLosses) {
        ParamLayout lay = ParamLayout.of(cfg);
        List<Ablation> out = new ArrayList<>();
        float[] losses = new float[nProbe * (T - 1)];
        try (NativeBatch b = model.batch(probe, nProbe, T)) {
            model.forward(b, losses);
            if (intactLosses != null) System.arraycopy(losses, 0, intactLosses, 0, losses.length);
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
        PearsonsCorrelation pearson = new PearsonsCorrelation();
        for (int c = 0; c < h; c++) out[c] = pearson.correlation(column(a, rows, h, c), column(b, rows, h, c));
        return out;
    }
}
