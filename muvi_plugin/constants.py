"""Constants shared by training, export and the runtime (MuVi Sec. 4.1, App. A-C).

These are the defaults of the music and video representation. A bundle's manifest carries its own copy,
so the runtime reads the manifest; training and export use these to build it.
"""

SAMPLE_RATE = 24_000  # Hz, MuVi Sec. 4.1
HOP_LENGTH = 300  # samples per mel frame -> 80 mel frames per second
N_MELS = 160
MEL_RATE = SAMPLE_RATE // HOP_LENGTH  # 80 frames per second

LATENT_CHANNELS = 8  # MuVi App. B: 8 latent channels
LATENT_DOWNSAMPLE = 8  # mel frames per latent frame
LATENT_RATE = MEL_RATE // LATENT_DOWNSAMPLE  # 10 latent frames per second
SAMPLES_PER_LATENT = HOP_LENGTH * LATENT_DOWNSAMPLE  # 2400

VIDEO_FPS = 10  # MuVi Sec. 4.1 / App. F: 10 FPS is the knee
ENCODER_CLIP_FRAMES = 16  # MuVi App. C: VideoMAE clips are 16 frames

CONTEXT_MAX_SECONDS = 14.0  # MuVi Sec. 4.1: in-context prompt of min(14 s, 33%)
CONTEXT_MAX_FRACTION = 0.33
