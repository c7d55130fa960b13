package io.spectro.demo;

import java.util.ArrayList;
import java.util.List;

/**
 * How well each component's susceptibility separates induction tokens (those completing
 * [A][B] ... [A] -> [B]) from the other probe tokens: ROC AUC of chi per column, reported as
 * max(AUC, 1 - AUC) with the sign that separates, so 0.5 = no separation and 1 = perfect.
 */
public final class Induction {
    private Induction() {}

    /** AUC of one component; {@code direction} is "-" when induction tokens have the lower chi. */
    public record Row(String component, double auc, String direction) {}

    public static List<Row> separation(float[] chi, int rows, List<String> components, boolean[] induction) {
        int h = components.size();
        List<Row> out = new ArrayList<>();
        double[] col = new double[rows];
        for (int c = 0; c < h; c++) {
            for (int r = 0; r < rows; r++) col[r] = chi[r * h + c];
            double auc = Roc.auc(col, induction);
            out.add(new Row(components.get(c), Math.max(auc, 1 - auc), auc < 0.5 ? "-" : "+"));
        }
        return out;
    }

    /** A Markdown table of the two runs side by side (same component order). */
    public static String table(List<Row> sgld, List<Row> baseline) {
        StringBuilder sb = new StringBuilder("| component | AUC (SGLD, nβ > 0) | AUC (baseline, nβ = 0) |\n|---|---|---|\n");
        for (int i = 0; i < sgld.size(); i++)
            sb.append(String.format("| %s | %.3f (%s) | %.3f (%s) |%n", sgld.get(i).component(), sgld.get(i).auc(),
                    sgld.get(i).direction(), baseline.get(i).auc(), baseline.get(i).direction()));
        return sb.toString();
    }
}
