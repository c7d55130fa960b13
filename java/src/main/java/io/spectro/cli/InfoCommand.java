package io.spectro.cli;

import io.spectro.model.Checkpoint;
import io.spectro.model.ModelConfig;
import io.spectro.model.ParamLayout;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;

/** {@code spectro info}: a checkpoint's (or preset's) config, parameter count, tensors and components. */
@Command(name = "info", mixinStandardHelpOptions = true,
        description = {"Show a model's configuration, parameter count, default components and (with --tensors) its tensors.",
                "Validates the checkpoint's headers, names and shapes without loading the weights."})
public final class InfoCommand implements Callable<Integer> {
    @Mixin
    ModelSource source;

    @Option(names = "--tensors", description = "list every tensor with shape, offset and dtype")
    boolean tensors;

    @Spec
    CommandSpec spec;

    /** One component of the default decomposition (method.md section 1). */
    public record Component(String name, long params) {}

    /** The default decomposition: l{L}h{H} heads, l{L}mlp, embed, unembed (H = L*nh + L + 2 components). */
    public static List<Component> defaultComponents(ModelConfig c) {
        long d = c.dModel(), hd = c.headDim(), f = c.dFf(), v = c.vocabSize();
        List<Component> out = new ArrayList<>();
        for (int l = 0; l < c.nLayers(); l++) {
            for (int h = 0; h < c.nHeads(); h++) out.add(new Component("l" + l + "h" + h, 3 * hd * d + 3 * hd + d * hd));
            out.add(new Component("l" + l + "mlp", 2 * d * f + f + d));
        }
        out.add(new Component("embed", v * d));
        out.add(new Component("unembed", v * d));
        return out;
    }

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        ModelConfig c;
        Map<String, String> dtypes = Map.of();
        source.check();
        if (source.model != null) {
            Checkpoint.Info info = Checkpoint.inspect(source.model);
            c = info.config();
            dtypes = info.dtypes();
            out.printf("checkpoint   %s%n", info.root());
            out.printf("files        %s%n", info.files().stream().map(p -> p.getFileName().toString()).toList());
            Map<String, Integer> count = new TreeMap<>();
            dtypes.values().forEach(t -> count.merge(t, 1, Integer::sum));
            out.printf("dtypes       %s%n", count);
            out.printf("tokenizer    %s%n", info.tokenizerJson() == null ? "(none: no tokenizer.json)" : info.tokenizerJson());
        } else {
            c = ModelConfig.preset(source.preset);
            out.printf("preset       %s%n", source.preset);
        }
        out.printf("vocab        %d%n", c.vocabSize());
        out.printf("d_model      %d%n", c.dModel());
        out.printf("layers       %d%n", c.nLayers());
        out.printf("heads        %d (head dim %d)%n", c.nHeads(), c.headDim());
        out.printf("d_ff         %d%n", c.dFf());
        out.printf("rotary dims  %d (base %s)%n", c.rotaryDims(), c.rotaryBase());
        out.printf("max seq      %d%n", c.maxSeq());
        out.printf("ln eps       %s%n", c.lnEps());
        out.printf("parameters   %,d (%.1f MB as float32)%n", c.paramCount(), c.paramCount() * 4 / 1e6);
        ParamLayout layout = ParamLayout.of(c);
        if (tensors) {
            out.printf("%ntensors (%d, canonical order):%n", layout.tensorCount());
            for (ParamLayout.Tensor t : layout.tensors())
                out.printf("  %4d  %-52s %-14s offset %,15d  %s%n", t.index(), t.name(), t.shapeString(), t.offset(),
                        dtypes.getOrDefault(t.name(), ""));
        }
        List<Component> comps = defaultComponents(c);
        long sum = comps.stream().mapToLong(Component::params).sum();
        out.printf("%ncomponents   %d (default decomposition: heads, MLPs, embed, unembed), %,d parameters in components%n",
                comps.size(), sum);
        for (int l = 0; l < c.nLayers(); l++) {
            List<Component> heads = comps.subList(l * (c.nHeads() + 1), l * (c.nHeads() + 1) + c.nHeads());
            Component mlp = comps.get(l * (c.nHeads() + 1) + c.nHeads());
            out.printf("  layer %-3d %s .. %s (%d heads, %,d each), %s (%,d)%n", l, heads.getFirst().name(), heads.getLast().name(),
                    heads.size(), heads.getFirst().params(), mlp.name(), mlp.params());
        }
        out.printf("  embed (%,d), unembed (%,d)%n", comps.get(comps.size() - 2).params(), comps.getLast().params());
        out.flush();
        return 0;
    }
}
