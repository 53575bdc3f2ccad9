"""The generator's parts: text encoder, duration predictors, flows, posterior encoder, HiFi-GAN decoder."""
