package io.spectro.report;

import io.spectro.structure.Cards;
import io.spectro.structure.Pipeline;
import io.spectro.structure.TokenTable;

import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;

/**
 * Tokens across scale: for each chosen token, the clusters that hold it in run A and in run B side by
 * side (cluster id, occurrences of the token there, share of all its clustered occurrences, cluster
 * size, the cluster's most common tokens). A static page, every text HTML-escaped.
 */
public final class Compare {
    private Compare() {}

    public static void write(Path out, String nameA, Pipeline.ClustersFile a, String nameB, Pipeline.ClustersFile b,
                             List<String> tokens) {
        Html.writeFile(out, render(nameA, a, null, nameB, b, null, tokens));
    }

    /** As above, with the runs' token tables (may be null) so that occurrences are followed row by row. */
    public static void write(Path out, String nameA, Pipeline.ClustersFile a, TokenTable ta, String nameB,
                             Pipeline.ClustersFile b, TokenTable tb, List<String> tokens) {
        Html.writeFile(out, render(nameA, a, ta, nameB, b, tb, tokens));
    }

    public static String render(String nameA, Pipeline.ClustersFile a, String nameB, Pipeline.ClustersFile b,
                                List<String> tokens) {
        return render(nameA, a, null, nameB, b, null, tokens);
    }

    public static String render(String nameA, Pipeline.ClustersFile a, TokenTable ta, String nameB, Pipeline.ClustersFile b,
                                TokenTable tb, List<String> tokens) {
        StringBuilder s = new StringBuilder();
        s.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>spectro: tokens across runs</title>\n<style>")
                .append("body{font:14px/1.4 system-ui,sans-serif;margin:16px;color:#1d2330}table{border-collapse:collapse;width:100%}")
                .append("th,td{border:1px solid #d8dce4;padding:4px 6px;vertical-align:top;text-align:left}th{background:#f3f5f9}")
                .append(".tok{font-family:ui-monospace,Menlo,monospace;background:#eef1f6;border-radius:3px;padding:0 3px;white-space:pre}")
                .append(".num{text-align:right;font-variant-numeric:tabular-nums}.none{color:#8a91a0}td.side{width:50%}")
                .append("</style></head><body>\n<h1>Tokens across runs</h1>\n<p>A: <b>").append(Html.text(nameA)).append("</b> (")
                .append(a.rows()).append(" vectors, ").append(a.clusters().size()).append(" clusters").append(predicted(a))
                .append(") &nbsp; B: <b>").append(Html.text(nameB)).append("</b> (").append(b.rows()).append(" vectors, ")
                .append(b.clusters().size()).append(" clusters").append(predicted(b)).append(")</p>\n");
        List<AcrossScale.Shift> shifts = tokens.stream().map(t -> AcrossScale.shift(t, a, ta, b, tb)).toList();
        summary(s, nameA, nameB, shifts);
        s.append("<h2>Clusters holding each token</h2>\n<table><tr><th>token</th><th>").append(Html.text(nameA)).append("</th><th>")
                .append(Html.text(nameB)).append("</th></tr>\n");
        for (String t : tokens) {
            s.append("<tr class=\"token\"><td><span class=\"tok\">").append(Html.text(Html.showToken(t))).append("</span></td>");
            side(s, a, t);
            side(s, b, t);
            s.append("</tr>\n");
        }
        s.append("</table>\n<p>Matching: the token's display text, or equal after trimming spaces and lower-casing. "
                + "share = the token's occurrences in that cluster / its occurrences in all clusters of the run. "
                + "Companions: the tokens most over-represented (against their share of all clustered rows) in the clusters "
                + "holding the token, weighted by how much of the token each cluster holds; at least " + AcrossScale.MIN_COMPANION
                + " occurrences. Overlap of two tokens: \u03a3 over clusters of the smaller of their two shares (1 = the same "
                + "distribution over clusters, 0 = never in a common cluster). Pairs kept together: of the pairs of the token's "
                + "occurrences that share a cluster in either run, the fraction that share one in both (only when both runs "
                + "cover the same probe rows).</p>\n</body></html>\n");
        return s.toString();
    }

    /** What differs, token by token, then the overlap of the followed tokens within each run. */
    private static void summary(StringBuilder s, String nameA, String nameB, List<AcrossScale.Shift> shifts) {
        s.append("<h2>What differs</h2>\n<table class=\"summary\"><tr><th>token</th><th>").append(Html.text(nameA))
                .append("</th><th>").append(Html.text(nameB)).append("</th><th>pairs kept together</th></tr>\n");
        for (AcrossScale.Shift x : shifts) {
            s.append("<tr><td><span class=\"tok\">").append(Html.text(Html.showToken(x.token()))).append("</span></td><td>")
                    .append(Html.text(AcrossScale.describe(x.a()))).append("</td><td>").append(Html.text(AcrossScale.describe(x.b())))
                    .append("</td><td class=\"num\">");
            if (x.pairs() < 0) s.append("<span class=\"none\">runs not row-aligned</span>");
            else if (x.pairs() == 0) s.append("<span class=\"none\">no pair</span>");
            else s.append(String.format("%.0f%% of %d", 100 * x.pairsAgreement(), x.pairs()));
            s.append("</td></tr>\n");
        }
        s.append("</table>\n");
        if (shifts.size() < 2) return;
        s.append("<h2>Overlap between the followed tokens</h2>\n<table class=\"overlap\"><tr><th></th>");
        for (AcrossScale.Shift x : shifts) s.append("<th><span class=\"tok\">").append(Html.text(Html.showToken(x.token()))).append("</span></th>");
        s.append("</tr>\n");
        for (AcrossScale.Shift p : shifts) {
            s.append("<tr><td><span class=\"tok\">").append(Html.text(Html.showToken(p.token()))).append("</span></td>");
            for (AcrossScale.Shift q : shifts) {
                if (p == q) { s.append("<td class=\"num none\">\u2014</td>"); continue; }
                s.append("<td class=\"num\">").append(cell(p.a(), q.a())).append(" \u2192 ").append(cell(p.b(), q.b())).append("</td>");
            }
            s.append("</tr>\n");
        }
        s.append("</table>\n<p>Each cell: overlap in ").append(Html.text(nameA)).append(" \u2192 overlap in ").append(Html.text(nameB))
                .append(".</p>\n");
    }

    private static String cell(AcrossScale.Side p, AcrossScale.Side q) {
        if (p.clustered() == 0 || q.clustered() == 0) return "\u00b7";
        return String.format("%.2f", AcrossScale.overlap(p, q));
    }

    /** Clustered rows predicted by an auxiliary model (RUN/predicted.npy). */
    static long predictedRows(Pipeline.ClustersFile cf) {
        return cf.clusters().stream().mapToLong(Cards.Card::predicted).sum();
    }

    private static String predicted(Pipeline.ClustersFile cf) {
        long p = predictedRows(cf);
        return p == 0 ? "" : ", " + p + " clustered rows predicted";
    }

    private static void side(StringBuilder s, Pipeline.ClustersFile cf, String token) {
        boolean pred = predictedRows(cf) > 0;
        List<int[]> hold = Explorer.holding(cf, token);
        s.append("<td class=\"side\">");
        if (hold.isEmpty()) {
            s.append("<span class=\"none\">in no cluster</span></td>");
            return;
        }
        long total = hold.stream().mapToLong(h -> h[1]).sum();
        s.append("<table><tr><th>cluster</th><th>n</th><th>share</th><th>size</th>").append(pred ? "<th>predicted</th>" : "")
                .append("<th>top tokens</th></tr>");
        for (int[] h : hold) {
            Cards.Card c = cf.clusters().get(h[0]);
            String top = c.tokens().stream().limit(5)
                    .map(x -> "<span class=\"tok\">" + Html.text(Html.showToken(x.t())) + "</span>")
                    .collect(Collectors.joining(" "));
            s.append("<tr><td>").append(Html.text(c.id())).append("</td><td class=\"num\">").append(h[1])
                    .append("</td><td class=\"num\">").append(String.format("%.1f%%", 100.0 * h[1] / total))
                    .append("</td><td class=\"num\">").append(c.size()).append("</td>")
                    .append(pred ? "<td class=\"num pred\">" + c.predicted() + "</td>" : "").append("<td>").append(top).append("</td></tr>");
        }
        s.append("</table></td>");
    }
}
