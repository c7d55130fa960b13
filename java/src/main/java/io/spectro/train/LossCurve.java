package io.spectro.train;

import io.spectro.io.Atomic;
import io.spectro.io.IoErrors;
import io.spectro.SpectroException;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

import java.io.IOException;
import java.nio.file.Path;

/** The training loss curve as a PNG: raw per-step loss and a 50-step moving average. */
public final class LossCurve {
    private LossCurve() {}

    public static void writePng(Path file, float[] losses, String title) {
        XYSeries raw = new XYSeries("loss"), avg = new XYSeries("50-step mean");
        double run = 0;
        for (int i = 0; i < losses.length; i++) {
            raw.add(i, losses[i]);
            run += losses[i];
            if (i >= 50) run -= losses[i - 50];
            avg.add(i, run / Math.min(i + 1, 50));
        }
        XYSeriesCollection ds = new XYSeriesCollection();
        ds.addSeries(raw);
        ds.addSeries(avg);
        JFreeChart chart = ChartFactory.createXYLineChart(title, "step", "cross-entropy (nats)", ds,
                PlotOrientation.VERTICAL, true, false, false);
        try (Atomic.Group g = new Atomic.Group()) {
            ChartUtils.saveChartAsPNG(g.temp(file).toFile(), chart, 800, 450);
            g.commit();
        } catch (IOException e) {
            throw new SpectroException(file + ": cannot write the loss curve (" + IoErrors.describe(e) + ")", e);
        }
    }
}
