package io.spectro.demo;

import java.util.Arrays;

/** ROC AUC by the rank-sum (Mann-Whitney) formula, ties counted half. */
public final class Roc {
    private Roc() {}

    /** AUC of score predicting positive; 0.5 = no separation, 1 or 0 = perfect (0 = inverted). */
    public static double auc(double[] score, boolean[] positive) {
        int n = score.length;
        Integer[] idx = new Integer[n];
        for (int i = 0; i < n; i++) idx[i] = i;
        Arrays.sort(idx, (a, b) -> Double.compare(score[a], score[b]));
        double rankSumPos = 0;
        long pos = 0;
        int i = 0;
        while (i < n) {
            int j = i;
            while (j + 1 < n && score[idx[j + 1]] == score[idx[i]]) j++;
            double rank = (i + j) / 2.0 + 1;
            for (int k = i; k <= j; k++) if (positive[idx[k]]) { rankSumPos += rank; pos++; }
            i = j + 1;
        }
        long neg = n - pos;
        if (pos == 0 || neg == 0) return Double.NaN;
        return (rankSumPos - pos * (pos + 1) / 2.0) / ((double) pos * neg);
    }
}
