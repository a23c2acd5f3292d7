// Engine — tensors, layers, losses, optimizers, data sets (Images/: JPEG and PNG
// decoding and torchvision's transforms) and training on the CPU with OpenBLAS.
// It takes plain values and knows nothing about YAML or plans.
