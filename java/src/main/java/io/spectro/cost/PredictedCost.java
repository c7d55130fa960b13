package io.spectro.cost;

import io.spectro.components.Component;
import io.spectro.components.Decomposition;
import io.spectro.model.ModelConfig;
import io.spectro.upsample.FeatureSpec;

import java.util.ArrayList;
import java.util.List;

/**
 * What one predicted χ vector costs ({@code spectro upsample apply}), counted with {@link CostModel}'s
 * convention so it can stand next to a ground-truth vector at the same settings: the forwards that compute
 * the token's features (over batches of sequences, shared by every token, so counted per token) plus the
 * regressor and the map back to χ units.
 *
 * <p>The forwards, as {@code upsample.Features} runs them (docs/upsampling.md, "Features"): one forward at
 * w* from the embedding for every spec ({@code sp_forward_features} when the spec has {@code act}, whose
 * norms and entropies are elementwise work the convention does not count; it also gives {@code loss}); with
 * {@code resp:K}, for each distinct lowest layer of the components a cache build up to that layer plus the
 * forward at w* from it (together one full forward), then 2K forwards per component from its lowest layer
 * (ℓ(w* ± h·v) along K directions). The upper figure, {@link Estimate#uncachedFlopsPerVector}, starts every
 * forward at the embedding. Feature columns: {@code loss} 1, {@code act} the native {@code sp_feature_count}, {@code resp:K}
 * 2K per component (second and first differences). The regressor is a dense network of the given widths
 * (ridge: one layer) into the whitened dimension, then the map back to H χ columns. Not counted: reading
 * tokens, writing vectors, fitting the auxiliary model (the fit's features for the ground-truth tokens are a
 * one-off, {@code featureFlopsPerToken} x ground-truth vectors).
 */
public final class PredictedCost {
    private PredictedCost() {}

    /**
     * @param features         the parsed feature spec, e.g. {@code loss,act,resp:4}
     * @param actColumns       columns of the act group: the native {@code sp_feature_count} of the model
     * @param hidden           the regressor's hidden widths; empty = ridge (one linear map)
     * @param outputDim        the regressor's outputs: the whitened dimension
     */
    public record Options(FeatureSpec features, long actColumns, int[] hidden, int outputDim) {
        public Options {
            if (features == null) throw new IllegalArgumentException("feature spec missing");
            if (features.has(FeatureSpec.Kind.ACT) && actColumns < 1)
                throw new IllegalArgumentException("the act group needs the native column count (sp_feature_count), got " + actColumns);
            if (outputDim < 1) throw new IllegalArgumentException("whitened dimension must be >= 1, got " + outputDim);
            for (int h : hidden) if (h < 1) throw new IllegalArgumentException("hidden widths must be >= 1, got " + h);
            hidden = hidden.clone();
        }

        /** "ridge" or "mlp:W1,W2,..." */
        public static int[] parseRegressor(String s) {
            if (s.equals("ridge")) return new int[0];
            if (s.startsWith("mlp:")) {
                try {
                    int[] w = java.util.Arrays.stream(s.substring(4).split(",")).map(String::strip).mapToInt(Integer::parseInt).toArray();
                    if (w.length > 0) return w;
                } catch (NumberFormatException ignored) {
                    // falls through to the message
                }
            }
            throw new IllegalArgumentException("regressor: expected ridge or mlp:W1,W2,... (hidden widths), got " + s);
        }
    }

    /**
     * @param forwards                   model forwards per token, counting a cache build plus the forward from
     *                                   its layer as one
     * @param featureFlopsPerToken       the feature forwards as built (response forwards from the component's layer)
     * @param uncachedFeatureFlopsPerToken the same with every forward from the embedding
     * @param featureDim                 the regressor's input dimension
     * @param regressorFlops             the regressor and the map back to χ units, per vector
     * @param groups                     per group: name, forwards, feature columns
     */
    public record Estimate(int forwards, double featureFlopsPerToken, double uncachedFeatureFlopsPerToken, int featureDim,
                           double regressorFlops, List<Group> groups, Options options) {
        public double flopsPerVector() { return featureFlopsPerToken + regressorFlops; }

        public double uncachedFlopsPerVector() { return uncachedFeatureFlopsPerToken + regressorFlops; }
    }

    public record Group(String name, int forwards, int dim) {}

    /** The cost of one predicted vector for a model of shape {@code cfg}, sequences of {@code seq} tokens. */
    public static Estimate estimate(ModelConfig cfg, int seq, String components, Options o) {
        List<Component> comps = Decomposition.resolve(cfg, components);
        double full = CostModel.forwardFlopsPerToken(cfg, seq, 0);
        int L = cfg.nLayers(), H = comps.size();
        FeatureSpec spec = o.features();
        int respK = spec.respK();
        long dim = (spec.has(FeatureSpec.Kind.LOSS) ? 1 : 0) + (spec.has(FeatureSpec.Kind.ACT) ? o.actColumns() : 0)
                + 2L * respK * H;
        List<Group> groups = new ArrayList<>();
        groups.add(new Group(spec.has(FeatureSpec.Kind.ACT) ? "forward at w* (sp_forward_features)" : "forward at w*", 1, 0));
        int forwards = 1;
        double flops = full, uncached = full;
        if (respK > 0) {
            java.util.TreeSet<Integer> layers = new java.util.TreeSet<>();
            for (Component c : comps) layers.add(c.lowestLayer());
            groups.add(new Group("cache builds + forwards at w* per layer", layers.size(), 0));
            groups.add(new Group("resp:" + respK, 2 * respK * H, 2 * respK * H));
            forwards += layers.size() + 2 * respK * H;
            flops += layers.size() * full;           // build up to layer l + forward from l = one full forward
            uncached += layers.size() * full;
            for (Component c : comps) {
                flops += 2.0 * respK * CostModel.forwardFlopsPerToken(cfg, seq, c.lowestLayer());
                uncached += 2.0 * respK * full;
            }
        }
        double reg = 0;
        long in = dim;
        for (int h : o.hidden()) {
            reg += 2.0 * in * h;
            in = h;
        }
        reg += 2.0 * in * o.outputDim();
        reg += 2.0 * o.outputDim() * H; // whitened prediction back to χ units
        return new Estimate(forwards, flops, uncached, Math.toIntExact(dim), reg, List.copyOf(groups), o);
    }
}
