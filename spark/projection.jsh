// The Spark schedule of the published 1.4B sweep on 64 GPUs (docs/benchmarks.md, "Spark"):
//   jshell --class-path java/target/spectro-all.jar spark/projection.jsh
// Each run (full + 410 components) is charged its SGLD steps, per-draw forwards, its own L0 forward and the
// cache build at its layer (a Spark task starts a fresh model), then placed on the next free GPU of 64, in
// index order and longest first (what SparkChi submits).
import io.spectro.cost.*; import io.spectro.model.*; import io.spectro.sampling.*; import java.util.*;
var cfg = ModelConfig.preset("pythia-1.4b");
var so = SamplerOptions.pythia14b(0);
var e = CostModel.estimate(cfg, new CostModel.Options(so, "default", 512, 8318, 17, true, Long.MAX_VALUE / 4, 8192));
int R = e.runs().size();
double[] t = new double[R];
for (int i = 0; i < R; i++) { var r = e.runs().get(i); t[i] = r.sgldFlops() + r.observableFlops() + e.loss0Flops() + (r.cacheLayer() > 0 ? e.cacheBuildFlops()[r.cacheLayer()] : 0); }
double sum = Arrays.stream(t).sum();
double peak = 989e12;
for (double mfu : new double[]{1.0, 0.35}) {
  for (String order : new String[]{"index", "lpt"}) {
    Integer[] idx = new Integer[R]; for (int i = 0; i < R; i++) idx[i] = i;
    if (order.equals("lpt")) Arrays.sort(idx, (a, b) -> Double.compare(t[b], t[a]));
    PriorityQueue<Double> gpus = new PriorityQueue<>(); for (int g = 0; g < 64; g++) gpus.add(0.0);
    for (int i : idx) gpus.add(gpus.poll() + t[i]);
    double mk = 0; for (double g : gpus) mk = Math.max(mk, g);
    System.out.printf("mfu %.2f order %s: makespan %.2f h, mean %.2f h, max/mean %.3f, device-h %.1f%n", mfu, order, mk / (peak*mfu) / 3600, sum / 64 / (peak*mfu) / 3600, mk / (sum / 64), sum/(peak*mfu)/3600);
  }
}
System.out.printf("largest task %.2f h at 35%%, smallest %.3f h; tasks %d; probe tokens %d%n", Arrays.stream(t).max().getAsDouble()/(peak*.35)/3600, Arrays.stream(t).min().getAsDouble()/(peak*.35)/3600, R, e.vectors());
/exit
