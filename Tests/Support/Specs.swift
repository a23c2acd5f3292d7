// Small specs several test targets run: quick enough for debug builds.

/// Spec texts shared by tests.
public enum TestSpecs {
    /// A 4-point sweep (learning rate × batch size) of a one-layer mlp on two classes,
    /// one epoch each.
    public static func tinySweep(name: String) -> String {
        """
        tlc: 1
        name: \(name)
        seed: 5
        data: {classes: [0, 1], train_per_class: 40, test_per_class: 20}
        backbone: {arch: mlp, options: {widths: [8]}}
        training: {epochs: 1, batch_size: 32}
        sweep:
          grid:
            optimizer.lr: [1e-3, 3e-3]
            training.batch_size: [16, 32]

        """
    }
}
