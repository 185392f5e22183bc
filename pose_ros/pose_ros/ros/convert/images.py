"""Images as ROS messages and back: colour (raw and compressed) and depth.

Message classes only (no rclpy node); the pixel work is in :mod:`pose_ros.media.image_convert`
and :mod:`pose_ros.core.lifting`, so the node, the recorder and the tests share one conversion.
"""

from __future__ import annotations

import numpy as np
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from pose_ros.core.lifting import depth_to_metres
from pose_ros.media.image_convert import bgr_to_raw, compressed_to_bgr, raw_to_bgr


def stamp_ns(header: Header) -> int:
    """Header stamp in integer nanoseconds (0 = the driver set no stamp)."""
    return header.stamp.sec * 1_000_000_000 + header.stamp.nanosec


def image_msg_to_bgr(msg: Image, max_pixels: int) -> np.ndarray:
    """sensor_msgs/Image -> BGR uint8; raises ImageConversionError with the reason."""
    return raw_to_bgr(msg.data, msg.width, msg.height, msg.step, msg.encoding,
                      is_bigendian=bool(msg.is_bigendian), max_pixels=max_pixels)


def compressed_msg_to_bgr(msg: CompressedImage, max_pixels: int) -> np.ndarray:
    return compressed_to_bgr(msg.data, msg.format, max_pixels=max_pixels)


def bgr_to_image_msg(image: np.ndarray, header: Header) -> Image:
    data, step, encoding = bgr_to_raw(image)
    msg = Image(header=header, height=image.shape[0], width=image.shape[1],
                encoding=encoding, is_bigendian=0, step=step)
    msg.data = data
    return msg


def depth_msg_to_metres(msg: Image) -> np.ndarray:
    """sensor_msgs/Image depth -> (H, W) float32 metres, NaN = no reading; raises DepthError."""
    return depth_to_metres(bytes(msg.data), msg.width, msg.height, msg.step, msg.encoding,
                           is_bigendian=bool(msg.is_bigendian))
